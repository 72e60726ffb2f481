//! The navigation bar: the site's name, the signed-in user and Logout.

use crate::components::islands::SendsForm;
use crate::{
    model::Role,
    server_fns::Logout,
    site::{nothing, with_site},
};
use leptos::prelude::*;

#[component]
pub fn NavBar() -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    view! {
        <header class="topbar">
            <nav class="nav" aria-label="Main">
                <a class="brand" href="/">
                    <span class="brand-mark" aria-hidden="true"></span>
                    "Gatehouse"
                </a>
                {with_site(nothing, move |site| {
                        match site {
                            Ok(state) => match state.user {
                                Some(user) => view! {
                                    <ul class="nav-links">
                                        <li><a href="/dashboard">"Dashboard"</a></li>
                                        <li><a href="/account">"Account"</a></li>
                                        {(user.role == Role::Admin).then(|| view! { <li><a href="/admin">"Admin"</a></li> })}
                                    </ul>
                                    <div class="nav-user">
                                        <span class="nav-username" data-testid="nav-username" title="Signed in">{user.username.clone()}</span>
                                        <ActionForm action=logout attr:class="inline-form">
                                            <SendsForm><button type="submit" class="btn btn-ghost">"Logout"</button></SendsForm>
                                        </ActionForm>
                                    </div>
                                }.into_any(),
                                None if state.setup_required => ().into_any(),
                                None => view! {
                                    <ul class="nav-links nav-guest">
                                        <li><a href="/login">"Log in"</a></li>
                                        {state.signup_open.then(|| view! { <li><a class="btn btn-small" href="/signup">"Sign up"</a></li> })}
                                    </ul>
                                }.into_any(),
                            },
                            Err(_) => ().into_any(),
                        }
                    })}
            </nav>
        </header>
    }
}
