//! `/account/recovery-codes`: the recovery codes made a moment ago, shown
//! this once, to copy, download or print.

use crate::{components::guard::signed_in, server_fns::take_recovery_codes};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn RecoveryCodesPage() -> impl IntoView {
    let codes = Resource::new(|| (), |_| take_recovery_codes());
    view! {
        <Title text="Your recovery codes"/>
        {signed_in(move |_user, _site| view! {
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match codes.await {
                        Ok(codes) if !codes.is_empty() => {
                            let text = format!(
                                "Gatehouse recovery codes. Each works once, when you cannot use your authenticator app or passkey.\n\n{}\n",
                                codes.join("\n")
                            );
                            let download = format!(
                                "data:text/plain;charset=utf-8,{}",
                                crate::model::encode_return(&text)
                            );
                            view! {
                                <section class="card narrow" aria-labelledby="codes-title">
                                    <p class="eyebrow">"Second factor"</p>
                                    <h1 id="codes-title">"Save your recovery codes"</h1>
                                    <p class="muted">"If you lose your phone or passkey, each of these codes signs you in once. Keep them somewhere safe, apart from your password. This is the only time they are shown."</p>
                                    <ol class="codes" data-testid="recovery-codes">
                                        {codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                                    </ol>
                                    <div class="actions">
                                        <a class="btn btn-ghost" href=download download="gatehouse-recovery-codes.txt">"Download"</a>
                                        <button type="button" class="btn btn-ghost needs-js" data-copy-codes="">"Copy"</button>
                                        <a class="btn btn-primary" href="/account#security">"I saved them"</a>
                                    </div>
                                </section>
                            }.into_any()
                        }
                        _ => view! {
                            <section class="card narrow" aria-labelledby="codes-title">
                                <h1 id="codes-title">"Recovery codes"</h1>
                                <p class="muted">"Recovery codes are shown once, right after they are made. To see new ones, make new ones on your account page (the old ones then stop working)."</p>
                                <a class="btn btn-primary" href="/account#security">"Back to your account"</a>
                            </section>
                        }.into_any(),
                    }
                })}
            </Suspense>
        })}
    }
}
