//! A throwaway PostgreSQL cluster for integration tests: initdb, start, connect as any role,
//! restart, crash, and read the server log. Each cluster has its own directory and unix
//! socket, so tests run in parallel without sharing anything.
//!
//! When the tests run as root (CI containers), server commands run as the `postgres` user,
//! since PostgreSQL refuses to run as root.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU16, Ordering};

pub use postgres::{Client, Error as PgError};

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

fn bindir() -> PathBuf {
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("pg_config is on PATH");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// Runs a server-side program, as `postgres` when we are root.
/// RUST_BACKTRACE is removed so error details never carry backtraces.
fn server_cmd(program: &Path) -> Command {
    let mut c = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    c.env_remove("RUST_BACKTRACE");
    c
}

fn check(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Builds a cluster; every setting is a `postgresql.conf` line.
pub struct ClusterBuilder {
    name: String,
    preload: bool,
    settings: Vec<String>,
}

impl ClusterBuilder {
    /// Do not put pg_privacy in `shared_preload_libraries`.
    pub fn without_preload(mut self) -> Self {
        self.preload = false;
        self
    }

    pub fn setting(mut self, line: impl Into<String>) -> Self {
        self.settings.push(line.into());
        self
    }

    /// Creates the cluster without starting it.
    pub fn init(self) -> Cluster {
        let port = 56000
            + (std::process::id() % 500) as u16 * 8
            + NEXT_PORT.fetch_add(1, Ordering::Relaxed) % 8;
        let dir = std::env::temp_dir().join("pg_privacy_it").join(format!(
            "{}-{}-{}",
            self.name,
            std::process::id(),
            port
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let cluster = Cluster {
            dir,
            port,
            bindir: bindir(),
        };
        cluster.chown(&cluster.dir);
        let mut perms = fs::metadata(&cluster.dir).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        fs::set_permissions(&cluster.dir, perms).unwrap();
        check(
            server_cmd(&cluster.bindir.join("initdb"))
                .arg("-D")
                .arg(cluster.data())
                .args([
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                    "-U",
                    "postgres",
                ])
                .output()
                .unwrap(),
            "initdb",
        );
        let mut conf = format!(
            "port = {port}\nunix_socket_directories = '{}'\nlisten_addresses = ''\nfsync = off\n\
             lc_messages = 'C'\nlog_line_prefix = '%m [%p] %q%u@%d '\n",
            cluster.dir.display()
        );
        if self.preload {
            conf.push_str("shared_preload_libraries = 'pg_privacy'\n");
        }
        for s in &self.settings {
            conf.push_str(s);
            conf.push('\n');
        }
        cluster.append_conf(&conf);
        cluster
    }

    /// Creates and starts the cluster.
    pub fn start(self) -> Cluster {
        let c = self.init();
        c.start();
        c
    }
}

pub struct Cluster {
    dir: PathBuf,
    port: u16,
    bindir: PathBuf,
}

impl Cluster {
    /// `name` labels the directory, to find it when a test fails.
    pub fn builder(name: &str) -> ClusterBuilder {
        ClusterBuilder {
            name: name.to_string(),
            preload: true,
            settings: Vec::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn chown(&self, path: &Path) {
        if is_root() {
            check(
                Command::new("chown")
                    .arg("postgres:")
                    .arg(path)
                    .output()
                    .unwrap(),
                "chown",
            );
        }
    }

    /// Writes a file in the cluster directory that only the server can read.
    pub fn write_private_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        fs::write(&path, contents).unwrap();
        let mut perms = fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        fs::set_permissions(&path, perms).unwrap();
        self.chown(&path);
        path
    }

    pub fn append_conf(&self, lines: &str) {
        let path = self.data().join("postgresql.conf");
        let mut conf = fs::read_to_string(&path).unwrap();
        conf.push_str(lines);
        conf.push('\n');
        fs::write(&path, conf).unwrap();
        self.chown(&path);
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        server_cmd(&self.bindir.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", "60"])
            .args(args)
            .output()
            .unwrap()
    }

    pub fn start(&self) {
        let out = self.pg_ctl(&["start"]);
        assert!(
            out.status.success(),
            "server did not start; log:\n{}",
            self.log()
        );
    }

    pub fn stop(&self) {
        check(self.pg_ctl(&["-m", "fast", "stop"]), "pg_ctl stop");
    }

    pub fn restart(&self) {
        let out = self.pg_ctl(&["-m", "fast", "restart"]);
        assert!(
            out.status.success(),
            "server did not restart; log:\n{}",
            self.log()
        );
    }

    /// Sends SIGHUP so sighup-level settings are reloaded.
    pub fn reload(&self) {
        check(self.pg_ctl(&["reload"]), "pg_ctl reload");
    }

    pub fn connect(&self, user: &str) -> Client {
        self.connect_db("postgres", user)
    }

    pub fn connect_db(&self, db: &str, user: &str) -> Client {
        self.try_connect_db(db, user)
            .unwrap_or_else(|e| panic!("connect as {user} to {db}: {e}\nlog:\n{}", self.log()))
    }

    /// Like `connect_db`, for when the server may be restarting (after a crash).
    pub fn try_connect_db(&self, db: &str, user: &str) -> Result<Client, PgError> {
        postgres::Config::new()
            .host_path(&self.dir)
            .port(self.port)
            .user(user)
            .dbname(db)
            .application_name("pg_privacy_it")
            .connect(postgres::NoTls)
    }

    /// A superuser session in `postgres` with the extension created.
    pub fn with_extension(&self) -> Client {
        let mut c = self.connect("postgres");
        c.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_privacy")
            .unwrap();
        c
    }

    /// A client program (pg_dump, pg_restore, psql) with the arguments to reach this server.
    pub fn client(&self, program: &str) -> Command {
        let mut c = Command::new(self.bindir.join(program));
        c.arg("-h")
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-U")
            .arg("postgres");
        c
    }

    /// The whole server log so far.
    pub fn log(&self) -> String {
        fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("cluster kept for inspection: {}", self.dir.display());
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("---- server log tail ----");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// A started cluster whose root key command reads `key_line` (`<id> <hex>`) from a private
/// file; `settings` are further postgresql.conf lines.
pub fn cluster_with_key(name: &str, key_line: &str, settings: &[&str]) -> Cluster {
    let mut builder = Cluster::builder(name);
    for s in settings {
        builder = builder.setting(*s);
    }
    let cluster = builder.init();
    let file = cluster.write_private_file("root.key", &format!("{key_line}\n"));
    cluster.append_conf(&format!(
        "privacy.root_key_command = 'cat {}'",
        file.display()
    ));
    cluster.start();
    cluster
}

/// Polls `query` (one boolean column) until it is true, for at most `seconds`.
pub fn wait_until(client: &mut Client, query: &str, seconds: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < deadline {
        if client
            .query_one(query, &[])
            .map(|r| r.get::<_, bool>(0))
            .unwrap_or(false)
        {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

/// The SQLSTATE of a failed statement, e.g. "55000".
pub fn sqlstate(err: &PgError) -> String {
    err.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no sqlstate: {err}"))
}

/// The primary message, detail and hint of a failed statement, joined.
pub fn error_text(err: &PgError) -> String {
    match err.as_db_error() {
        Some(db) => format!(
            "{} | detail: {} | hint: {}",
            db.message(),
            db.detail().unwrap_or(""),
            db.hint().unwrap_or("")
        ),
        None => err.to_string(),
    }
}

/// A fresh random 32-byte key in hex, for a test root key file.
pub fn random_key_hex() -> String {
    let mut buf = [0u8; 32];
    use std::io::Read;
    fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut buf)
        .unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
