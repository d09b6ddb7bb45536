//! busd dying at awkward moments: killed in the middle of its own start, the client that
//! started it starts another within its retry window instead of failing the call.

use std::os::unix::fs::PermissionsExt;

use proto::client::Client;
use proto::{Request, Response};

use crate::common::*;

#[tokio::test]
async fn a_busd_killed_while_starting_is_started_again() {
    let bus = TempBus::empty();
    std::fs::create_dir_all(bus.paths.dir()).unwrap();
    // The first start dies from SIGKILL before serving; the next one is the real busd.
    let mark = bus.dir.path().join("killed-once");
    let script = bus.dir.path().join("busd-dies-once");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ ! -e '{mark}' ]; then touch '{mark}'; kill -9 $$; fi\nexec '{busd}' \"$@\"\n",
            mark = mark.display(),
            busd = busd_exe().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let client = Client::new(proto::client::ClientOptions {
        busd: Some(script),
        ..bus.autostart_options()
    });
    let answer = client.call(Request::Status).await;
    assert!(mark.exists(), "the first busd was started and killed");
    assert!(
        matches!(answer, Ok(Response::Status(_))),
        "the call goes on with a second busd: {answer:?}"
    );
}
