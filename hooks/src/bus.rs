//! The bus `bus` talks to: busd on this machine (its socket), or an HTTP front (`BUS_URL`).
//! Commands and hooks run the same typed [`Call`]s on either; the front is a transport of
//! [`Request`]s and [`Response`]s, read back the same way.

use proto::client::{Call, Client, ClientError, Waited};
use proto::{Request, Response};

use crate::remote::Remote;

/// A connection to the bus of this environment. Cheap to clone.
#[derive(Clone)]
pub enum Bus {
    Local(Client),
    Remote(Remote),
}

impl Bus {
    /// Run a typed call: its answer as the request's own result type.
    pub async fn run<T>(&self, call: Call<T>) -> Result<T, ClientError> {
        let (request, answer) = call.split();
        answer.read(self.call(request).await?)
    }

    /// A waiting call, and whether busd cut it short because it stops (a front never says).
    pub async fn run_waiting<T>(&self, call: Call<T>) -> Result<Waited<T>, ClientError> {
        match self {
            Bus::Local(client) => client.run_waiting(call).await,
            Bus::Remote(_) => Ok(Waited {
                response: self.run(call).await?,
                stopping: false,
            }),
        }
    }

    async fn call(&self, request: Request) -> Result<Response, ClientError> {
        match self {
            Bus::Local(client) => client.call(request).await,
            Bus::Remote(remote) => remote.call(request).await,
        }
    }
}
