//! The endpoint's resource template, replaceable while the endpoint runs.
//!
//! Deployed, the template comes from an SSM parameter (`CFCOOKIE_RESOURCE_PARAMETER`) that
//! Terraform rewrites when the media domain changes. A warm Lambda instance may live for
//! hours, so the endpoint re-reads the parameter with every key refresh
//! ([`crate::server::spawn_resource_refresh`]) instead of keeping the value it read at start.

use std::sync::{Arc, RwLock};

/// A resource template shared by the endpoint and the task that refreshes it.
#[derive(Clone)]
pub struct SharedResource(Arc<RwLock<String>>);

impl SharedResource {
    /// A template that starts as `template`.
    pub fn new(template: impl Into<String>) -> Self {
        SharedResource(Arc::new(RwLock::new(template.into())))
    }

    /// The template now.
    pub fn get(&self) -> String {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the template (the caller has validated it).
    pub fn set(&self, template: String) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = template;
    }
}

impl std::fmt::Debug for SharedResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedResource").field(&self.get()).finish()
    }
}

impl PartialEq<&str> for SharedResource {
    fn eq(&self, other: &&str) -> bool {
        self.get() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_see_a_replaced_template() {
        let a = SharedResource::new("https://old.example/*");
        let b = a.clone();
        a.set("https://new.example/*".into());
        assert_eq!(b, "https://new.example/*");
    }
}
