//! `/dashboard`: the private page. Who you are and your role.

use crate::{components::guard::signed_in, model::Role};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn DashboardPage() -> impl IntoView {
    view! {
        <Title text="Dashboard"/>
        {signed_in(|user, _site| {
            let role_label = user.role.as_str();
            let since = user.created_at.get(..10).unwrap_or("").to_string();
            view! {
                <div class="stack">
                <section class="card" aria-labelledby="dash-title">
                    <p class="eyebrow">"Dashboard"</p>
                    <h1 id="dash-title">"Hello, " <span data-testid="dashboard-username">{user.username.clone()}</span></h1>
                    <p class="muted">"You are signed in. This page is private: only signed-in people reach it."</p>
                    <dl class="facts">
                        <div><dt>"Username"</dt><dd>{user.username.clone()}</dd></div>
                        <div><dt>"Email"</dt><dd>{user.email.clone().unwrap_or_else(|| "—".to_string())}</dd></div>
                        <div><dt>"Role"</dt><dd><span class="badge" class:badge-admin=user.role == Role::Admin data-testid="dashboard-role">{role_label}</span></dd></div>
                        <div><dt>"Member since"</dt><dd><time datetime=user.created_at.clone()>{since}</time></dd></div>
                    </dl>
                </section>
                <section class="card next" aria-labelledby="next-title">
                    <h2 id="next-title">"Next steps"</h2>
                    <ul class="links">
                        <li>
                            <a href="/account">"Password and sessions"</a>
                            <span class="muted">" · change your password, see where you are signed in"</span>
                        </li>
                        <li>
                            <a href="/api/v1/openapi.json" rel="external">"API reference (OpenAPI)"</a>
                            <span class="muted">" · tokens for scripts and apps"</span>
                        </li>
                    </ul>
                </section>
                </div>
            }
        })}
    }
}
