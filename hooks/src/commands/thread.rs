//! `bus thread ID`: the reply chain around a message, printed as a tree.

use std::collections::BTreeMap;

use crate::bus::Bus;
use proto::Message;
use proto::client::call;

use crate::identity;
use crate::output::{self, say};

pub async fn print(client: &Bus, me: Option<&str>, json: bool, id: i64) -> anyhow::Result<()> {
    identity::act_as_resolved(client, me).await?;
    let page = client.run(call::thread(id)).await?;
    if json {
        return output::json(&page);
    }
    if page.messages.is_empty() {
        say!("no message of that thread is yours to see")?;
    }
    std::io::Write::write_all(
        &mut std::io::stdout().lock(),
        tree(&page.messages).as_bytes(),
    )?;
    Ok(())
}

/// Each message under the one it replies to, indented two spaces a level, oldest first. A
/// message whose parent is not shown (not this reader's to see) starts a tree of its own.
fn tree(messages: &[Message]) -> String {
    let shown = |id: i64| messages.iter().any(|m| m.id == id);
    let mut children: BTreeMap<Option<i64>, Vec<&Message>> = BTreeMap::new();
    for m in messages {
        let parent = m.reply_to.filter(|p| shown(*p));
        children.entry(parent).or_default().push(m);
    }
    let mut out = String::new();
    let mut stack: Vec<(usize, &Message)> = children
        .get(&None)
        .into_iter()
        .flatten()
        .rev()
        .map(|m| (0, *m))
        .collect();
    while let Some((depth, m)) = stack.pop() {
        let indent = "  ".repeat(depth);
        for line in output::message(m).lines() {
            out.push_str(&format!("{indent}{line}\n"));
        }
        let below = children.get(&Some(m.id)).into_iter().flatten().rev();
        stack.extend(below.map(|c| (depth + 1, *c)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: i64, reply_to: Option<i64>) -> Message {
        Message {
            id,
            from: "a".into(),
            to: "b".into(),
            content: format!("m{id}"),
            reply_to,
            ts: "t".into(),
        }
    }

    #[test]
    fn replies_sit_under_their_parent_and_an_orphan_starts_its_own_tree() {
        let text = tree(&[
            m(1, None),
            m(2, Some(1)),
            m(3, Some(1)),
            m(4, Some(2)),
            m(6, Some(5)),
        ]);
        let heads: Vec<&str> = text.lines().filter(|l| l.contains('#')).collect();
        assert_eq!(
            heads,
            [
                "#1 from a to b at t",
                "  #2 from a to b at t (reply to #1)",
                "    #4 from a to b at t (reply to #2)",
                "  #3 from a to b at t (reply to #1)",
                "#6 from a to b at t (reply to #5)",
            ]
        );
        assert!(
            text.contains("\n      m4\n"),
            "content under its head: {text}"
        );
    }
}
