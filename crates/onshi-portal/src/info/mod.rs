//! Information pages: お知らせ that operators post and everyone reads (the clinic's home page
//! shows the new ones), the FAQ the operator edits (its first version written from the
//! notice), the 問い合わせ form whose questions land in the operator's inbox and are answered by
//! mail, and the national articles the notice names.

pub mod handlers;
pub mod queries;

use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};

use crate::State;

/// The subsidy's name, as the notice gives it.
pub const SUBSIDY_NAME: &str = "地域診療情報連携推進費補助金";

/// How long a new お知らせ stays on the clinic's home page.
pub const NEW_DAYS: i64 = 14;

/// The articles of the national portal the notice names: (title, address).
pub const NATIONAL_ARTICLES: [(&str, &str); 4] = [
    (
        "施術所等向け総合ポータルサイト",
        "https://iryohokenjyoho.service-now.com/omf",
    ),
    (
        "参考1: 施術所等におけるオンライン資格確認概要",
        "https://iryohokenjyoho.service-now.com/omf?id=kb_article_view&sysparm_article=KB0010175",
    ),
    (
        "参考2: オンライン資格確認（資格確認限定型）導入に向けた準備作業の手引き",
        "https://iryohokenjyoho.service-now.com/omf?id=kb_article_view&sysparm_article=KB0010176#appli",
    ),
    (
        "参考3: 資格確認限定型レセコン連携機能について",
        "https://iryohokenjyoho.service-now.com/omf?id=kb_article_view&sysparm_article=KB0011734",
    ),
];

/// The links to the national articles.
pub fn national_links() -> Markup {
    html! {
        section.card #national-articles {
            h2 { "国の案内（厚生労働省の通知で紹介されている記事）" }
            ul {
                @for (title, href) in NATIONAL_ARTICLES {
                    li { a href=(href) rel="noopener noreferrer" { (title) } }
                }
            }
        }
    }
}

/// The routes.
pub fn routes() -> Router<State> {
    use handlers as h;
    Router::new()
        .route("/portal/notices", get(h::notices))
        .route("/portal/faq", get(h::faq))
        .route("/portal/contact", get(h::contact_form).post(h::contact))
        .route(
            "/portal/operator/notices",
            get(h::operator_notices).post(h::post_notice),
        )
        .route(
            "/portal/operator/faq",
            get(h::operator_faq).post(h::edit_faq),
        )
        .route("/portal/operator/inquiries", get(h::inbox))
        .route("/portal/operator/inquiries/{id}/reply", post(h::reply))
}
