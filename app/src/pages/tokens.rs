//! Your API tokens: create one for a script (shown once), see when each was last used,
//! revoke what is no longer needed.

use crate::api::{list_tokens, CreateToken, RevokeToken};
use crate::components::ErrorNote;
use crate::model::error_for;
use leptos::prelude::*;

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_tokens());
    let create_error = move || create.value().get().and_then(Result::err);
    let created = move || create.value().get().and_then(Result::ok);
    view! {
        <section class="page">
            <h1>"API tokens"</h1>
            <p class="muted">
                "A token lets a script call the JSON API as you, with your role: send "
                <code>"Authorization: Bearer <token>"</code> ". Berth keeps only a hash of it."
            </p>
            <h2>"New token"</h2>
            <ActionForm action=create attr:class="inline-form" attr:id="new-token">
                <label>"Name " <input name="name" placeholder="deploy pipeline" required/></label>
                <span class="field-error">{move || create_error().and_then(|e| error_for(&e.field_errors(), "name").map(str::to_string))}</span>
                <label>"Expires in (days) " <input name="expires_in_days" id="expires_in_days" inputmode="numeric" placeholder="default"/></label>
                <span class="field-error">{move || create_error().and_then(|e| error_for(&e.field_errors(), "expires_in_days").map(str::to_string))}</span>
                <button type="submit">"Create token"</button>
            </ActionForm>
            {move || create_error().filter(|e| e.field_errors().is_empty()).map(|e| view! { <ErrorNote error=e/> })}
            {move || created().map(|t| view! {
                <div class="notice" id="created-token">
                    <p>"Token " <strong>{t.name}</strong> " created, valid until " {t.expires_at} ". Copy it now: it will not be shown again."</p>
                    <p><code class="secret">{t.token}</code></p>
                </div>
            })}
            {move || revoke.value().get().and_then(Result::err).map(|e| view! { <ErrorNote error=e/> })}
            <h2>"Your tokens"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="empty">"No tokens yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="list" id="token-list">
                                <thead><tr><th>"Name"</th><th>"Created"</th><th>"Last used"</th><th>"Expires"</th><th>"State"</th><th></th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|t| {
                                        let live = t.revoked_at.is_none();
                                        view! {
                                            <tr>
                                                <td>{t.name}</td>
                                                <td>{t.created_at}</td>
                                                <td>{t.last_used_at.unwrap_or_else(|| "never".into())}</td>
                                                <td>{t.expires_at.unwrap_or_else(|| "never".into())}</td>
                                                <td>{t.revoked_at.map(|at| format!("revoked {at}")).unwrap_or_else(|| "active".into())}</td>
                                                <td>
                                                    {live.then(|| view! {
                                                        <ActionForm action=revoke>
                                                            <input type="hidden" name="id" value=t.id.clone()/>
                                                            <button type="submit" class="danger">"Revoke"</button>
                                                        </ActionForm>
                                                    })}
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
