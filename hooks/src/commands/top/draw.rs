//! Drawing `bus top`: a header with the traffic sparkline, the agents, the messages as reply
//! trees, claims with their time left and the state keys, a footer with the keys; fits 80×24.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, List, ListItem, ListState, Paragraph, Row, Sparkline, Table,
    TableState, Wrap,
};

use super::model::{App, FilterKind, Pane, age, time_left};

const FOCUSED: Style = Style::new().fg(Color::Cyan);
const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);

pub fn draw(frame: &mut Frame, app: &App, now: f64, host: &str) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(8),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let [agents, messages, lower] = Layout::vertical([
        Constraint::Percentage(32),
        Constraint::Percentage(40),
        Constraint::Percentage(28),
    ])
    .areas(body);
    let [claims, state] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(lower);
    draw_header(frame, header, app, now, host);
    draw_agents(frame, agents, app, now);
    draw_messages(frame, messages, app);
    draw_claims(frame, claims, app, now);
    draw_state(frame, state, app, now);
    draw_footer(frame, footer, app);
    if app.detail.is_some() {
        draw_detail(frame, body, app);
    }
}

fn block(title: String, app: &App, pane: Pane) -> Block<'static> {
    let block = Block::default().borders(Borders::ALL).title(title);
    if app.detail.is_none() && app.focus() == pane {
        block.border_style(FOCUSED)
    } else {
        block
    }
}

/// Messages per minute over the last `minutes` minutes, oldest first.
pub fn traffic(app: &App, now: f64, minutes: usize) -> Vec<u64> {
    let mut buckets = vec![0; minutes];
    let this_minute = (now / 60.0).floor();
    for m in &app.messages {
        let Some(ts) = proto::time::parse_rfc3339(&m.ts) else {
            continue;
        };
        let back = this_minute - (ts / 60.0).floor();
        if back >= 0.0 && (back as usize) < minutes {
            buckets[minutes - 1 - back as usize] += 1;
        }
    }
    buckets
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, now: f64, host: &str) {
    let spark_width = (area.width / 5).clamp(8, 40);
    let [text, label, spark] = Layout::horizontal([
        Constraint::Min(10),
        Constraint::Length(9),
        Constraint::Length(spark_width),
    ])
    .areas(area);
    let online = app
        .agents
        .iter()
        .filter(|a| a.status == proto::AgentStatus::Online)
        .count();
    let title = Line::from(vec![
        Span::styled(" bus top ", Style::new().bold().reversed()),
        Span::raw(format!(
            " {host} · {online}/{} online · {} claims · {} keys",
            app.agents.len(),
            app.visible_claims(now).len(),
            app.keys.len()
        )),
    ]);
    frame.render_widget(Paragraph::new(title), text);
    frame.render_widget(Paragraph::new(" msg/min ").dim(), label);
    let data = traffic(app, now, spark.width as usize);
    frame.render_widget(
        Sparkline::default()
            .data(&data)
            .style(Style::new().fg(Color::Green)),
        spark,
    );
}

fn draw_agents(frame: &mut Frame, area: Rect, app: &App, now: f64) {
    let agents = app.visible_agents();
    let rows = agents.iter().map(|a| {
        let status = match a.status {
            proto::AgentStatus::Online => Span::styled("online", Style::new().fg(Color::Green)),
            proto::AgentStatus::Away => Span::styled("away", Style::new().fg(Color::Yellow)),
            proto::AgentStatus::Offline => Span::styled("offline", Style::new().dim()),
        };
        let seen = if a.connected {
            "now".to_owned()
        } else {
            let at = proto::time::parse_rfc3339(&a.last_seen).unwrap_or(now);
            age(now - at)
        };
        let mut owns = a.owns.join(" ");
        if !a.overlaps.is_empty() {
            owns = format!("⚠ {} · {owns}", a.overlaps.join(","));
        }
        let row = Row::new(vec![
            Cell::from(a.name.clone()),
            Cell::from(a.role.clone()),
            Cell::from(a.host.clone().unwrap_or_default()),
            Cell::from(status),
            Cell::from(if a.waiting { "wait" } else { "" }),
            Cell::from(seen),
            Cell::from(owns),
        ]);
        if a.overlaps.is_empty() {
            row
        } else {
            row.style(Style::new().fg(Color::Yellow).bold())
        }
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(14),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Length(4),
            Constraint::Length(4),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new([
            "name",
            "role",
            "host",
            "status",
            "",
            "seen",
            "owns (⚠ overlaps)",
        ])
        .dim(),
    )
    .row_highlight_style(highlight(app, Pane::Agents))
    .block(block(
        format!(" agents ({}) ", agents.len()),
        app,
        Pane::Agents,
    ));
    let mut state = TableState::default().with_selected(Some(app.selected(Pane::Agents)));
    frame.render_stateful_widget(table, area, &mut state);
}

fn highlight(app: &App, pane: Pane) -> Style {
    if app.focus() == pane && app.detail.is_none() {
        SELECTED
    } else {
        Style::new()
    }
}

fn draw_messages(frame: &mut Frame, area: Rect, app: &App) {
    let lines = app.message_lines();
    let items: Vec<ListItem> = lines
        .iter()
        .map(|l| {
            let m = l.message;
            let indent = if l.depth == 0 {
                String::new()
            } else {
                format!("{}↳ ", "  ".repeat(l.depth - 1))
            };
            let time = m.ts.get(11..19).unwrap_or("");
            let first = m.content.lines().next().unwrap_or("");
            let mut spans = vec![
                Span::raw(indent),
                Span::styled(format!("#{} ", m.id), Style::new().dim()),
                Span::styled(format!("{time} "), Style::new().dim()),
                Span::styled(m.from.clone(), Style::new().fg(Color::Cyan)),
            ];
            if m.to == proto::limits::BROADCAST {
                spans.push(Span::raw(" ⇒ "));
                spans.push(Span::styled("all", Style::new().fg(Color::Magenta).bold()));
            } else {
                spans.push(Span::raw(" → "));
                spans.push(Span::styled(m.to.clone(), Style::new().fg(Color::Cyan)));
            }
            spans.push(Span::raw(format!("  {first}")));
            ListItem::new(Line::from(spans))
        })
        .collect();
    let title = format!(" messages ({}) · Enter: open · t: thread ", lines.len());
    let list = List::new(items)
        .highlight_style(highlight(app, Pane::Messages))
        .block(block(title, app, Pane::Messages));
    let mut state = ListState::default().with_selected(Some(app.selected(Pane::Messages)));
    frame.render_stateful_widget(list, area, &mut state);
}

fn draw_claims(frame: &mut Frame, area: Rect, app: &App, now: f64) {
    let claims = app.visible_claims(now);
    let rows = claims.iter().map(|c| {
        Row::new(vec![
            Cell::from(c.path.clone()),
            Cell::from(c.owner.clone()),
            Cell::from(time_left(app.time_left(c, now))),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Min(8),
            Constraint::Length(10),
            Constraint::Length(6),
        ],
    )
    .header(Row::new(["path", "owner", "left"]).dim())
    .row_highlight_style(highlight(app, Pane::Claims))
    .block(block(
        format!(" claims ({}) ", claims.len()),
        app,
        Pane::Claims,
    ));
    let mut state = TableState::default().with_selected(Some(app.selected(Pane::Claims)));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_state(frame: &mut Frame, area: Rect, app: &App, now: f64) {
    let keys = app.visible_keys();
    let rows = keys.iter().map(|k| {
        let at = proto::time::parse_rfc3339(&k.updated_at).unwrap_or(now);
        Row::new(vec![
            Cell::from(k.key.clone()),
            Cell::from(format!("v{}", k.version)),
            Cell::from(k.updated_by.clone()),
            Cell::from(age(now - at)),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Min(6),
            Constraint::Length(5),
            Constraint::Length(9),
            Constraint::Length(4),
        ],
    )
    .header(Row::new(["key", "ver", "by", "age"]).dim())
    .row_highlight_style(highlight(app, Pane::State))
    .block(block(format!(" state ({}) ", keys.len()), app, Pane::State));
    let mut state = TableState::default().with_selected(Some(app.selected(Pane::State)));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &App) {
    let line = if let Some(typing) = &app.typing {
        let what = match typing.kind {
            FilterKind::Name => "name",
            FilterKind::Path => "path",
        };
        Line::from(vec![
            Span::styled(format!(" filter by {what}: "), Style::new().bold()),
            Span::raw(format!("{}▏", typing.text)),
            Span::raw("  (Enter: apply, Esc: cancel)").dim(),
        ])
    } else if let Some(notice) = &app.notice {
        Line::from(Span::styled(
            format!(" {notice} · q: quit"),
            Style::new().fg(Color::Red).bold(),
        ))
    } else {
        let mut spans = vec![Span::raw(
            " q quit · Tab pane · ↑↓ scroll · / name · p path · Enter open · t thread",
        )];
        if let Some(f) = &app.filter {
            spans.push(Span::styled(
                format!(" · filter '{}' (Esc clears)", f.text),
                Style::new().fg(Color::Yellow),
            ));
        }
        Line::from(spans).dim()
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_detail(frame: &mut Frame, area: Rect, app: &App) {
    let Some(detail) = &app.detail else { return };
    let mut text = Text::default();
    for (id, depth) in &detail.rows {
        let Some(m) = app.message(*id) else { continue };
        let pad = "    ".repeat(*depth);
        let reply = m
            .reply_to
            .map(|r| format!(" (reply to #{r})"))
            .unwrap_or_default();
        text.push_line(Line::from(vec![
            Span::raw(pad.clone()),
            Span::styled(
                format!("#{} {} → {} at {}{reply}", m.id, m.from, m.to, m.ts),
                Style::new().bold(),
            ),
        ]));
        for line in m.content.lines() {
            text.push_line(Line::raw(format!("{pad}  {line}")));
        }
        text.push_line(Line::raw(""));
    }
    let title = if detail.thread {
        format!(
            " thread of #{} ({} messages) · Esc: close ",
            detail.rows[0].0,
            detail.rows.len()
        )
    } else {
        " message · Esc: close · ↑↓ scroll ".to_owned()
    };
    let popup = area.inner(ratatui::layout::Margin::new(2, 1));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .scroll((detail.scroll, 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(title)
                    .border_style(FOCUSED),
            ),
        popup,
    );
}
