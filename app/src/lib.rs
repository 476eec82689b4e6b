#![recursion_limit = "256"]
//! Berth's user interface, rendered on the server and hydrated in the browser.
//!
//! - `model`, `validation`, `stacks`, `instance_types`: shared types and rules, compiled into
//!   both halves so the browser and the server agree on every message.
//! - `cost`: the estimated monthly cost of an environment and of an API, from the price
//!   table kept in the repository; shared too, so the form's preview estimates as you type.
//! - `api`: server functions, thin adapters to the server's service layer (`backend`).
//! - `pages`, `components`: what the user sees.

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod components;
pub mod cost;
pub mod error;
pub mod field_rules;
pub mod health;
pub mod instance_types;
pub mod model;
pub mod pages;
pub mod stacks;
pub mod validation;

use crate::api::{current_user, SignIn, SignOut};
use crate::model::{Role, User};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{Redirect, Route, Router, Routes, A};
use leptos_router::{path, Lazy};

/// Every page is a lazy route: its code is a wasm chunk of its own (`cargo leptos build
/// --split`), fetched with the first visit to the page, so the first load carries only the
/// shell (router, navigation, sign-in state) and the page being shown.
mod routes {
    use crate::pages::{audit, environments, health, login, request_detail, request_form, requests, tokens, users};
    use leptos::prelude::*;
    use leptos_router::{lazy_route, LazyRoute};

    macro_rules! lazy_pages {
        ($($route:ident => $page:path;)*) => {$(
            pub struct $route;

            #[lazy_route]
            impl LazyRoute for $route {
                fn data() -> Self {
                    $route
                }

                fn view(_this: Self) -> AnyView {
                    use $page as Page;
                    view! { <Page/> }.into_any()
                }
            }
        )*};
    }

    lazy_pages! {
        Login => login::LoginPage;
        Requests => requests::RequestsPage;
        NewRequest => request_form::NewRequestPage;
        RequestDetail => request_detail::RequestDetailPage;
        EditRequest => request_form::EditRequestPage;
        Environments => environments::EnvironmentsPage;
        Environment => environments::EnvironmentPage;
        Users => users::UsersPage;
        Audit => audit::AuditPage;
        Dashboard => health::DashboardPage;
        Tokens => tokens::TokensPage;
    }
}

/// Where the browser fetches the compiled site's files (`<root>/pkg/...`): the server names
/// the path for a hash of their contents, `/assets/<hash>`, so a browser may keep every file
/// for good and a new build is fetched under a new path. Empty (without it) they come from
/// `/pkg`. Provided by the server for every page it renders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssetRoot(pub String);

pub fn shell(options: LeptosOptions) -> impl IntoView {
    content_security_policy();
    let nonce = leptos::nonce::use_nonce();
    let root = use_context::<AssetRoot>().unwrap_or_default().0;
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HashedStylesheet options=options.clone() id="leptos" root=root.clone()/>
                <script nonce=nonce>{SCRIPT_NOTICE}</script>
                <HydrationScripts options root=root/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// When the page's script fails to load, to instantiate or to run, the page keeps working
/// through its server-rendered forms and links but stops updating by itself: say so once,
/// rather than leave a silently dead page. Plain JavaScript, because it must work exactly
/// when the wasm does not.
const SCRIPT_NOTICE: &str = "(function(){function f(){if(document.getElementById('script-notice')||!document.body)return;\
var n=document.createElement('p');n.id='script-notice';n.className='script-notice';n.setAttribute('role','alert');\
n.textContent='This page could not start its script, so it will not update by itself (no live checks, previews or \
events). Its forms and links still work: reload the page to try again.';document.body.prepend(n);}\
addEventListener('unhandledrejection',f);addEventListener('error',f);})();";

/// Scripts run only from our origin or inline with this response's nonce (the hydration
/// bootstrap and the streamed resources carry it), and the wasm may be compiled; nothing
/// may frame the page. Set here because only the renderer knows the nonce.
fn content_security_policy() {
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>()) {
        let policy = format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        if let Ok(value) = http::HeaderValue::from_str(&policy) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
}

/// The signed-in user as the pages see it; `None` while signed out.
pub type CurrentUser = Resource<Result<Option<User>, error::AppError>>;

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let sign_in = ServerAction::<SignIn>::new();
    let sign_out = ServerAction::<SignOut>::new();
    let user: CurrentUser =
        Resource::new(move || (sign_in.version().get(), sign_out.version().get()), |_| current_user());
    provide_context(sign_in);
    provide_context(sign_out);
    provide_context(user);
    // Created here, not in the request page, so that they outlive any one rendering of it.
    provide_context(pages::request_activity::Actions::new());

    // Browser tests wait for this mark before typing, so they exercise the hydrated page.
    // Set a moment after the root hydrates, once the suspended parts have had their turn.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        set_timeout(
            || {
                if let Some(body) = document().body() {
                    let _ = body.set_attribute("data-hydrated", "true");
                }
            },
            std::time::Duration::from_millis(100),
        );
    });

    view! {
        <Title text="Berth"/>
        <Router>
            <Nav/>
            <main>
                <Routes fallback=|| view! { <pages::NotFound/> }>
                    <Route path=path!("/") view=|| view! { <Redirect path="/requests"/> }/>
                    <Route path=path!("/login") view={Lazy::<routes::Login>::new()}/>
                    <Route path=path!("/requests") view={Lazy::<routes::Requests>::new()}/>
                    <Route path=path!("/requests/new") view={Lazy::<routes::NewRequest>::new()}/>
                    <Route path=path!("/requests/:id") view={Lazy::<routes::RequestDetail>::new()}/>
                    <Route path=path!("/requests/:id/edit") view={Lazy::<routes::EditRequest>::new()}/>
                    <Route path=path!("/environments") view={Lazy::<routes::Environments>::new()}/>
                    <Route path=path!("/environments/:name") view={Lazy::<routes::Environment>::new()}/>
                    <Route path=path!("/admin/users") view={Lazy::<routes::Users>::new()}/>
                    <Route path=path!("/audit") view={Lazy::<routes::Audit>::new()}/>
                    <Route path=path!("/dashboard") view={Lazy::<routes::Dashboard>::new()}/>
                    <Route path=path!("/tokens") view={Lazy::<routes::Tokens>::new()}/>
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn Nav() -> impl IntoView {
    let user = expect_context::<CurrentUser>();
    let sign_out = expect_context::<ServerAction<SignOut>>();
    // Fetched by the browser once the page is live, and again after every decision: a
    // count that suspended the navigation on the server made pages lose their hydration.
    let sign_in = expect_context::<ServerAction<SignIn>>();
    let actions = expect_context::<pages::request_activity::Actions>();
    let queue = LocalResource::new(move || {
        sign_in.version().get();
        actions.version();
        api::review_count()
    });
    view! {
        <header class="topbar">
            <A href="/requests" attr:class="brand">"Berth"</A>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(user)) => {
                            let is_admin = user.role == Role::Admin;
                            let is_platform = user.role.is_platform();
                            view! {
                                <nav>
                                    <A href="/requests">"Requests"</A>
                                    <A href="/requests/new">"New API"</A>
                                    <A href="/dashboard">"Dashboard"</A>
                                    <A href="/environments">"Environments"</A>
                                    {is_platform.then(|| view! {
                                        <a href="/requests?queue=true" id="review-link">
                                            "Review "
                                            {move || queue.get().and_then(Result::ok).map(|n| view! { <span class="count">{n}</span> })}
                                        </a>
                                    })}
                                    <A href="/audit">"Audit"</A>
                                    {is_admin.then(|| view! { <A href="/admin/users">"Users"</A> })}
                                </nav>
                                <div class="who">
                                    <span class="user" title=user.team.clone()>
                                        {user.display_name.clone()} " · " {user.role.as_str()}
                                    </span>
                                    <A href="/tokens" attr:id="tokens-link">"API tokens"</A>
                                    <ActionForm action=sign_out>
                                        <button type="submit" class="link">"Sign out"</button>
                                    </ActionForm>
                                </div>
                            }
                                .into_any()
                        }
                        _ => view! { <nav></nav> }.into_any(),
                    }
                })}
            </Transition>
        </header>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // The pages are lazy routes: hydration waits for the shown page's chunk.
    leptos::mount::hydrate_lazy(App);
}
