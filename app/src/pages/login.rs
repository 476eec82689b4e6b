use crate::api::{sign_in_options, SignIn};
use crate::components::href_with;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = expect_context::<ServerAction<SignIn>>();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    // Single sign-on sends its failures back here, in words of Berth's.
    let sso_error = move || query.read().get("error").filter(|e| !e.is_empty());
    let error = move || action.value().get().and_then(Result::err).map(|e| e.to_string()).or_else(sso_error);
    let options = Resource::new(|| (), |_| sign_in_options());
    let start = move || href_with("/auth/oidc/start", &[("next", Some(next()).filter(|n| !n.is_empty()))]);
    view! {
        <section class="auth">
            <h1>"Sign in to Berth"</h1>
            <Suspense fallback=|| ()>
                {move || options.get().and_then(Result::ok).and_then(|o| o.single_sign_on.map(|button| (button, o.passwords_for_everyone))).map(|(button, passwords)| view! {
                    // External to the router: the server answers it with a redirect to the provider.
                    <p><a class="button sso" rel="external" href=start>{button}</a></p>
                    <p class="muted">{if passwords { "Or sign in with a Berth password:" } else { "Passwords are for the break-glass admin only:" }}</p>
                })}
            </Suspense>
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
