//! The bus `bus` talks to: busd on this machine (its socket), or an HTTP front (`BUS_URL`).
//! Commands and hooks make the same [`Request`]s of either and read the same [`Response`]s.

use proto::client::{Client, ClientError, Waited};
use proto::{Request, Response};

use crate::remote::Remote;

/// A connection to the bus of this environment. Cheap to clone.
#[derive(Clone)]
pub enum Bus {
    Local(Client),
    Remote(Remote),
}

impl Bus {
    pub async fn call(&self, request: Request) -> Result<Response, ClientError> {
        match self {
            Bus::Local(client) => client.call(request).await,
            Bus::Remote(remote) => remote.call(request).await,
        }
    }

    /// A waiting call, and whether busd cut it short because it stops (a front never says).
    pub async fn call_waiting(&self, request: Request) -> Result<Waited, ClientError> {
        match self {
            Bus::Local(client) => client.call_waiting(request).await,
            Bus::Remote(remote) => Ok(Waited {
                response: remote.call(request).await?,
                stopping: false,
            }),
        }
    }
}
