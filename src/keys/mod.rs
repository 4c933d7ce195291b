//! Keys: the root key the customer brings, and the data keys wrapped under it.

pub mod cache;
pub mod events;
pub mod keyring;
pub mod root;

pub fn init() {
    root::init();
}
