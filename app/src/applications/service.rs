//! Application rules: who owns an application (today its creator; teams later), and
//! creating, renaming and describing one.

use super::store::Owner;
use crate::auth::CurrentUser;

pub fn owner_of(user: &CurrentUser) -> Owner {
    Owner::User(user.id.clone())
}
