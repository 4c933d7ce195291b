-- Re-encryption: moving stored values to the active version of their key after rotate_key.
-- Per-value work is in Rust (src/crypto/reencrypt.rs); the batching is here. Everything runs
-- with the caller's rights: the caller needs UPDATE on the table and a decrypt grant.

CREATE FUNCTION privacy.needs_reencrypt(value privacy.encrypted_text) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'needs_reencrypt_wrapper';
CREATE FUNCTION privacy.needs_reencrypt(value privacy.encrypted_bytea) RETURNS boolean
    LANGUAGE c STABLE STRICT PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'needs_reencrypt_wrapper';
COMMENT ON FUNCTION privacy.needs_reencrypt(privacy.encrypted_text) IS
    'True when the value is not under the active version of its key name (and its key is not destroyed).';
COMMENT ON FUNCTION privacy.needs_reencrypt(privacy.encrypted_bytea) IS
    'True when the value is not under the active version of its key name (and its key is not destroyed).';

CREATE FUNCTION privacy.reencrypt_value(value privacy.encrypted_text, context text DEFAULT NULL)
    RETURNS privacy.encrypted_text
    LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'reencrypt_text_value_wrapper';
CREATE FUNCTION privacy.reencrypt_value(value privacy.encrypted_bytea, context text DEFAULT NULL)
    RETURNS privacy.encrypted_bytea
    LANGUAGE c VOLATILE PARALLEL RESTRICTED AS 'MODULE_PATHNAME', 'reencrypt_bytea_value_wrapper';
COMMENT ON FUNCTION privacy.reencrypt_value(privacy.encrypted_text, text) IS
    'The value encrypted again under the active version of its key name (same context); '
    'unchanged when it already is. Needs a decrypt grant.';
COMMENT ON FUNCTION privacy.reencrypt_value(privacy.encrypted_bytea, text) IS
    'The value encrypted again under the active version of its key name (same context); '
    'unchanged when it already is. Needs a decrypt grant.';

-- One batch: the rows of blocks [from_block, to_block) whose value needs moving. A TID range
-- scan reads only those blocks; rows that concurrent writers change are re-checked by
-- PostgreSQL and, if moved out of the range, left for a later call.
CREATE FUNCTION privacy._reencrypt_range(tbl regclass, col name, context_column name,
                                         from_block bigint, to_block bigint)
    RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog, privacy, pg_temp AS $$
DECLARE
    moved bigint;
BEGIN
    EXECUTE format(
        'UPDATE %s SET %I = privacy.reencrypt_value(%I, %s) '
        'WHERE ctid >= $1 AND ctid < $2 AND %I IS NOT NULL AND privacy.needs_reencrypt(%I)',
        tbl, col, col,
        CASE WHEN context_column IS NULL THEN 'NULL' ELSE format('%I::text', context_column) END,
        col, col)
    USING format('(%s,0)', from_block)::tid, format('(%s,0)', to_block)::tid;
    GET DIAGNOSTICS moved = ROW_COUNT;
    RETURN moved;
END $$;
COMMENT ON FUNCTION privacy._reencrypt_range(regclass, name, name, bigint, bigint) IS
    'Internal: one batch of privacy.reencrypt over a range of table blocks.';

-- Checks the arguments and returns the blocks per batch and the number of blocks to cover.
CREATE FUNCTION privacy._reencrypt_plan(tbl regclass, col name, batch_size integer, context_column name,
                                        OUT blocks_per_batch bigint, OUT nblocks bigint, OUT rows_estimate bigint,
                                        OUT target text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, privacy, pg_temp AS $$
DECLARE
    coltype regtype;
    pages bigint;
    tuples float8;
BEGIN
    IF tbl IS NULL OR col IS NULL THEN
        RAISE EXCEPTION 'the table and the column must not be NULL' USING ERRCODE = '22023';
    END IF;
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be a positive number of rows' USING ERRCODE = '22023';
    END IF;
    SELECT a.atttypid::regtype INTO coltype FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF coltype IS NULL THEN
        RAISE EXCEPTION 'column "%" of % does not exist', col, tbl USING ERRCODE = '42704';
    END IF;
    IF coltype NOT IN ('privacy.encrypted_text'::regtype, 'privacy.encrypted_bytea'::regtype) THEN
        RAISE EXCEPTION 'column "%" of % is of type %, not an encrypted type', col, tbl, coltype
            USING ERRCODE = '22023';
    END IF;
    IF context_column IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM pg_attribute a
         WHERE a.attrelid = tbl AND a.attname = context_column AND a.attnum > 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'column "%" of % does not exist', context_column, tbl USING ERRCODE = '42704';
    END IF;
    target := format('%s.%I', tbl, col);  -- schema-qualified: search_path is pinned here
    nblocks := pg_relation_size(tbl) / current_setting('block_size')::bigint;
    SELECT c.relpages, c.reltuples INTO pages, tuples FROM pg_class c WHERE c.oid = tbl;
    IF tuples < 0 THEN
        -- Never analyzed (a new table): count it, so progress and batch sizes mean something.
        EXECUTE format('SELECT count(*) FROM %s', tbl) INTO tuples;
        pages := nblocks;
    END IF;
    rows_estimate := tuples::bigint;
    blocks_per_batch := greatest(1, (batch_size / greatest(1.0, tuples / greatest(pages, 1)))::bigint);
END $$;
COMMENT ON FUNCTION privacy._reencrypt_plan(regclass, name, integer, name) IS
    'Internal: validates the arguments of privacy.reencrypt and sizes its batches.';

CREATE FUNCTION privacy.reencrypt(tbl regclass, col name, batch_size integer DEFAULT 10000,
                                  context_column name DEFAULT NULL)
    RETURNS bigint LANGUAGE plpgsql
    SET search_path = pg_catalog, privacy, pg_temp AS $$
DECLARE
    plan record;
    job bigint;
    block bigint := 0;
    moved bigint := 0;
BEGIN
    plan := privacy._reencrypt_plan(tbl, col, batch_size, context_column);
    job := privacy._job_start('reencrypt', plan.target, plan.rows_estimate);
    BEGIN
        WHILE block < plan.nblocks LOOP
            moved := moved + privacy._reencrypt_range(tbl, col, context_column, block, block + plan.blocks_per_batch);
            block := block + plan.blocks_per_batch;
            PERFORM privacy._job_progress(job, moved);
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        PERFORM privacy._job_finish(job, moved, false);
        RAISE;
    END;
    PERFORM privacy._job_finish(job, moved, true);
    RETURN moved;
END $$;
COMMENT ON FUNCTION privacy.reencrypt(regclass, name, integer, name) IS
    'Moves every value of an encrypted column to the active version of its key name, in batches of '
    'about batch_size rows, and returns how many moved. context_column names the column whose text '
    'was the encryption context. One transaction: for large tables use CALL privacy.reencrypt_proc, '
    'which commits each batch. Safe with concurrent writes; a second run finishes what the first '
    'left. Progress shows in privacy.jobs. Needs UPDATE on the table and a decrypt grant.';

CREATE PROCEDURE privacy.reencrypt_proc(tbl regclass, col name, batch_size integer DEFAULT 10000,
                                        context_column name DEFAULT NULL)
    LANGUAGE plpgsql AS $$
DECLARE
    plan record;
    job bigint;
    block bigint := 0;
    moved bigint := 0;
BEGIN
    plan := privacy._reencrypt_plan(tbl, col, batch_size, context_column);
    job := privacy._job_start('reencrypt', plan.target, plan.rows_estimate);
    WHILE block < plan.nblocks LOOP
        BEGIN
            moved := moved + privacy._reencrypt_range(tbl, col, context_column, block, block + plan.blocks_per_batch);
        EXCEPTION WHEN OTHERS THEN
            PERFORM privacy._job_finish(job, moved, false);
            RAISE;
        END;
        block := block + plan.blocks_per_batch;
        PERFORM privacy._job_progress(job, moved);
        COMMIT;
    END LOOP;
    PERFORM privacy._job_finish(job, moved, true);
    RAISE NOTICE 'pg_privacy: % value(s) of %.% moved to the active key version', moved, tbl, col;
END $$;
COMMENT ON PROCEDURE privacy.reencrypt_proc(regclass, name, integer, name) IS
    'Like privacy.reencrypt, but commits after each batch, so a large table is re-encrypted without '
    'one long transaction; interrupted, it is simply called again. CALL it outside a transaction block.';
