//! `bus state get|set|list`: shared, versioned keys.

use crate::bus::Bus;
use proto::StateMode;
use proto::client::call;

use crate::args::StateCommand;
use crate::identity;
use crate::output::{self, arg_or_stdin, say};

pub async fn run(
    client: &Bus,
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
            let one = key.clone();
            let waits = after_version.is_some() || wait.is_some();
            let read = match (key, waits) {
                (Some(key), true) => {
                    call::wait_state(key, after_version.unwrap_or(0), wait.unwrap_or(0.0))
                }
                (key, _) => call::get_state(key),
            };
            let list = client.run(read).await?;
            // A key asked for and absent is an error; a wait that ran out is an answer.
            let missing = list.state.is_empty() && one.as_deref().is_some_and(|k| !k.is_empty());
            if json {
                output::json(&list)?;
            } else if let (true, Some(n)) = (missing && waits, after_version) {
                say!("not past version {n}")?;
            } else if let Some(key) = one.as_deref().filter(|_| missing) {
                eprintln!("bus: no key '{key}' (`bus state list` shows every key)");
            } else if list.state.is_empty() {
                say!("no keys")?;
            }
            if missing && !waits {
                return Err(super::Answered(1).into());
            }
            for e in list.state.iter().filter(|_| !json) {
                let by = if e.updated_by.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", e.updated_by)
                };
                say!(
                    "{} (version {}{by} at {})\n{}\n",
                    e.key,
                    e.version,
                    e.updated_at,
                    e.value
                )?;
            }
        }
        StateCommand::Set(args) => {
            let value = arg_or_stdin(args.value)?;
            // Writing needs no name, but records the author when one is known.
            identity::act_as_known(client, me).await?;
            let mode = if args.append {
                StateMode::Append
            } else {
                StateMode::Overwrite
            };
            let write = call::set_state(args.key, value, args.expected_version, mode);
            let written = client.run(write).await?;
            if json {
                return output::json(&written);
            }
            say!("{} is now at version {}", written.key, written.version)?;
        }
        StateCommand::List => {
            let list = client.run(call::list_state()).await?;
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
            say!("{}", output::listing("no keys", &header, &rows))?;
        }
    }
    Ok(())
}
