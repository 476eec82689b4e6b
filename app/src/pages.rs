//! One module per page.

pub mod audit;
pub mod environments;
pub mod health;
pub mod login;
pub mod request_activity;
pub mod request_detail;
pub mod request_form;
pub mod requests;
pub mod tokens;
pub mod users;

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="page">
            <h1>"Not found"</h1>
            <p><a href="/requests">"Back to the requests"</a></p>
        </section>
    }
}
