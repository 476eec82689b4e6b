use crate::api::SignIn;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = expect_context::<ServerAction<SignIn>>();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let error = move || action.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section class="auth">
            <h1>"Sign in to Berth"</h1>
            <ActionForm action=action>
                <input type="hidden" name="next" value=next/>
                <label>
                    "Username" <input name="username" id="username" autocomplete="username" required/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" id="password" autocomplete="current-password" required/>
                </label>
                {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <button type="submit">"Sign in"</button>
            </ActionForm>
        </section>
    }
}
