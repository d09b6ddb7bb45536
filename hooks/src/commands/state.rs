//! `bus state get|set|list`: shared, versioned keys.

use proto::client::Client;
use proto::{Request, StateMode};

use super::reply;
use crate::args::StateCommand;
use crate::identity;
use crate::output::{self, arg_or_stdin};

pub async fn run(
    client: &Client,
    me: Option<&str>,
    json: bool,
    cmd: StateCommand,
) -> anyhow::Result<()> {
    match cmd {
        StateCommand::Get {
            key,
            after_version,
            wait,
        } => {
            let request = match (key, after_version.is_some() || wait.is_some()) {
                (Some(key), true) => Request::WaitState {
                    key,
                    after_version: after_version.unwrap_or(0),
                    wait: wait.unwrap_or(0.0),
                },
                (key, _) => Request::GetState { key },
            };
            let list = reply!(client.call(request).await?, State);
            if json {
                return output::json(&list);
            }
            if list.state.is_empty() {
                match after_version {
                    Some(n) => println!("not past version {n}"),
                    None => println!("no such key"),
                }
            }
            for e in &list.state {
                let by = if e.updated_by.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", e.updated_by)
                };
                println!(
                    "{} (version {}{by} at {})\n{}\n",
                    e.key, e.version, e.updated_at, e.value
                );
            }
        }
        StateCommand::Set(args) => {
            let value = arg_or_stdin(args.value)?;
            // Writing needs no name, but records the author when one is known.
            identity::act_as_known(client, me).await?;
            let request = Request::SetState {
                key: args.key,
                value,
                expected_version: args.expected_version,
                mode: if args.append {
                    StateMode::Append
                } else {
                    StateMode::Overwrite
                },
            };
            let written = reply!(client.call(request).await?, StateWritten);
            if json {
                return output::json(&written);
            }
            println!("{} is now at version {}", written.key, written.version);
        }
        StateCommand::List => {
            let list = reply!(client.call(Request::ListState).await?, StateKeys);
            if json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .keys
                .iter()
                .map(|k| {
                    vec![
                        k.key.clone(),
                        k.version.to_string(),
                        k.updated_by.clone(),
                        k.updated_at.clone(),
                    ]
                })
                .collect();
            let header = ["KEY", "VERSION", "BY", "UPDATED"];
            println!("{}", output::listing("no keys", &header, &rows));
        }
    }
    Ok(())
}
