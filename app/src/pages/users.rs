//! Admin page: every account, a form to add one and a form per account to change it.

use crate::api::{get_webhook_status, list_users, CreateUser, UpdateUser};
use crate::components::ErrorNote;
use crate::model::{error_for, Role, User};
use leptos::prelude::*;

#[component]
pub fn UsersPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let update = ServerAction::<UpdateUser>::new();
    let users = Resource::new(move || (create.version().get(), update.version().get()), |_| list_users());
    let create_errors = move || create.value().get().and_then(Result::err);
    let create_message = move |field: &'static str| {
        create_errors().and_then(|e| error_for(&e.field_errors(), field).map(str::to_string))
    };
    let update_error = move || update.value().get().and_then(Result::err);
    let webhooks = Resource::new(|| (), |_| get_webhook_status());

    view! {
        <section class="page">
            <h1>"Users"</h1>
            {move || update_error().map(|e| view! { <ErrorNote error=e/> })}
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(users) => view! {
                            <table class="list" id="user-list">
                                <thead>
                                    <tr>
                                        <th>"Username"</th><th>"Display name"</th><th>"Role"</th><th>"Team"</th>
                                        <th>"Disabled"</th><th>"New password"</th><th><span class="visually-hidden">"Save"</span></th>
                                    </tr>
                                </thead>
                                <tbody>{users.into_iter().map(|u| view! { <UserRow user=u action=update/> }).collect_view()}</tbody>
                            </table>
                        }
                            .into_any(),
                    }
                })}
            </Transition>
            <h2>"Add a user"</h2>
            <ActionForm action=create attr:class="inline-form" attr:id="new-user">
                <label>"Username" <input name="user[username]" required/></label>
                <span class="field-error">{move || create_message("username")}</span>
                <label>"Display name" <input name="user[display_name]" required/></label>
                <span class="field-error">{move || create_message("display_name")}</span>
                <label>"Password" <input type="password" name="user[password]" autocomplete="new-password" required/></label>
                <span class="field-error">{move || create_message("password")}</span>
                <label>"Role" <RoleSelect name="user[role]" current=Role::Requester label="Role".to_string()/></label>
                <label>"Team" <input name="user[team]" required/></label>
                <span class="field-error">{move || create_message("team")}</span>
                {move || {
                    create_errors()
                        .filter(|e| e.field_errors().is_empty())
                        .map(|e| view! { <ErrorNote error=e/> })
                }}
                <button type="submit">"Add user"</button>
            </ActionForm>
            <h2>"Notifications"</h2>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match webhooks.await {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(w) if w.hooks.is_empty() => {
                            view! { <p class="empty">"No webhooks are configured ([[webhooks]] in the configuration file)."</p> }.into_any()
                        }
                        Ok(w) => view! {
                            <ul id="webhooks">
                                {w.hooks.into_iter().map(|h| view! { <li><code>{h.url}</code> " · " {h.pending} " waiting"</li> }).collect_view()}
                            </ul>
                            {(!w.failures.is_empty()).then(|| view! {
                                <table class="list" id="webhook-failures">
                                    <thead><tr><th>"Given up"</th><th>"URL"</th><th>"Event"</th><th>"Attempts"</th><th>"Last error"</th></tr></thead>
                                    <tbody>{w.failures.into_iter().map(|f| view! {
                                        <tr><td>{f.failed_at}</td><td><code>{f.url}</code></td><td>{f.event_id}</td><td>{f.attempts}</td><td>{f.error}</td></tr>
                                    }).collect_view()}</tbody>
                                </table>
                            })}
                        }
                            .into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn RoleSelect(name: &'static str, current: Role, label: String) -> impl IntoView {
    view! {
        <select name=name aria-label=label>
            {Role::ALL
                .into_iter()
                .map(|r| view! { <option value=r.as_str() selected=r == current>{r.as_str()}</option> })
                .collect_view()}
        </select>
    }
}

#[component]
fn UserRow(user: User, action: ServerAction<UpdateUser>) -> impl IntoView {
    let form_id = format!("user-{}", user.id);
    // The inputs of a row sit in table cells, away from their column headers: each says
    // whose and what it is to a screen reader.
    let username = user.username.clone();
    let of = move |what: &str| format!("{what} of {username}");
    view! {
        <tr class:disabled=user.disabled>
            <td>{user.username.clone()}</td>
            <td><input form=form_id.clone() name="form[display_name]" value=user.display_name.clone() aria-label=of("Display name")/></td>
            <td><RoleSelect name="form[role]" current=user.role label=of("Role") attr:form=form_id.clone()/></td>
            <td><input form=form_id.clone() name="form[team]" value=user.team.clone() size="10" aria-label=of("Team")/></td>
            <td><input form=form_id.clone() type="checkbox" name="form[disabled]" value="on" checked=user.disabled aria-label=of("Disabled")/></td>
            <td><input form=form_id.clone() type="password" name="form[password]" autocomplete="new-password" placeholder="unchanged" aria-label=of("New password")/></td>
            <td>
                <ActionForm action=action attr:id=form_id>
                    <input type="hidden" name="id" value=user.id.clone()/>
                    <button type="submit" aria-label=of("Save")>"Save"</button>
                </ActionForm>
            </td>
        </tr>
    }
}
