//! Keys: the root key the customer brings (this stage), and the data keys wrapped under it.

pub mod root;

pub fn init() {
    root::init();
}
