//! Health of deployed APIs: one request's (which makes it watched) and the dashboard of all
//! a user may see (from the cache only, so opening it costs AWS nothing).

use super::{decode_cursor, encode_cursor, page_limit, parse_id, Services};
use crate::db;
use crate::error::Result;
use app::error::AppError;
use app::health::{severity, DashboardFilter, DashboardItem, Health, Verdict, SORTS};
use app::model::{Page, RequestStatus, User};


pub async fn get(s: &Services, actor: &User, id: &str) -> Result<Health> {
    // Visibility and existence first, with the same answers as the request itself.
    super::requests::get(s, actor, id).await?;
    let id = parse_id(id, "request")?;
    let (_, service) = db::requests::live_service(&s.db, id)
        .await?
        .and_then(|row| row.service_ref())
        .ok_or_else(|| AppError::Conflict(format!("Request {id} has no running service to report on: it is not deployed")))?;
    Ok(s.health.watch(id, service).await.map_err(AppError::from)?)
}

pub async fn dashboard(s: &Services, actor: &User, filter: &DashboardFilter) -> Result<Page<DashboardItem>> {
    let non_empty = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
    let verdict = match non_empty(&filter.verdict) {
        Some(v) => Some(Verdict::parse(&v).ok_or_else(|| AppError::field("verdict", format!("Unknown health {v}: use healthy, degraded, failing or unknown")))?),
        None => None,
    };
    let sort = non_empty(&filter.sort).unwrap_or_else(|| "health".into());
    if !SORTS.contains(&sort.as_str()) {
        return Err(AppError::field("sort", format!("Cannot sort by {sort}: use {}", SORTS.join(", "))).into());
    }
    let offset = match non_empty(&filter.cursor) {
        Some(c) => decode_cursor(&c)? as usize,
        None => 0,
    };
    let limit = page_limit(filter.limit)? as usize;
    let (environment, team, q) = (non_empty(&filter.environment), non_empty(&filter.team), non_empty(&filter.q));
    // A requester's dashboard is their team's: another team's holds nothing they may see.
    let team = if actor.role.is_platform() {
        team
    } else if team.as_ref().is_some_and(|t| *t != actor.team) {
        return Ok(Page { items: Vec::new(), next_cursor: None });
    } else {
        Some(actor.team.clone())
    };
    // Sorted and filtered on the light rows and the verdicts alone; only the page shown is
    // completed with its summaries and public URLs.
    let rows = db::requests::live(&s.db, team.as_deref(), environment.as_deref(), q.as_deref()).await?;
    let known = s.health.verdicts();
    let mut rows: Vec<(Verdict, db::requests::LiveRow)> = rows
        .into_iter()
        .map(|r| (known.get(&r.id).copied().unwrap_or(Verdict::Unknown), r))
        .filter(|(v, _)| verdict.is_none_or(|wanted| wanted == *v))
        .collect();
    rows.sort_by(|(va, a), (vb, b)| {
        let key = match sort.as_str() {
            "name" => a.service_name.cmp(&b.service_name),
            "environment" => a.environment.cmp(&b.environment),
            "team" => a.team.cmp(&b.team),
            _ => severity(*va).cmp(&severity(*vb)),
        };
        key.then_with(|| a.service_name.cmp(&b.service_name)).then_with(|| a.environment.cmp(&b.environment))
    });
    let rest = rows.len().saturating_sub(offset);
    let page: Vec<(Verdict, db::requests::LiveRow)> = rows.into_iter().skip(offset).take(limit).collect();
    let ids: Vec<i64> = page.iter().map(|(_, r)| r.id).collect();
    let briefs = s.health.briefs(&ids);
    let urls: std::collections::HashMap<i64, Option<String>> = db::requests::public_urls(&s.db, &ids).await?.into_iter().collect();
    let drift = db::drift::statuses(&s.db, &ids).await?;
    let items = page
        .into_iter()
        .map(|(verdict, r)| {
            let brief = briefs.get(&r.id);
            DashboardItem {
                request_id: r.id.to_string(),
                public_url: urls.get(&r.id).cloned().flatten(),
                service_name: r.service_name,
                team: r.team,
                environment: r.environment,
                status: RequestStatus::parse(&r.status).unwrap_or(RequestStatus::Deployed),
                verdict,
                summary: brief.map_or_else(|| "Not read from AWS yet".into(), |b| b.summary.clone()),
                fetched_at: brief.map(|b| b.fetched_at.clone()),
                drift: drift.get(&r.id).copied().unwrap_or(app::model::DriftStatus::NotChecked),
            }
        })
        .collect();
    let next_cursor = (rest > limit).then(|| encode_cursor((offset + limit) as i64));
    Ok(Page { items, next_cursor })
}
