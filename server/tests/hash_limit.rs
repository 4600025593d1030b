//! Review item 2 (issue 11): the permit of a hash moves into the blocking task, so
//! requests dropped mid-hash (a client that closes the socket) cannot start more hashes
//! than there are permits. Before, every dropped request freed its permit while its hash
//! ran on.
//!
//! A test binary of its own: the permits and the count of running hashes are global to
//! the process, and no other test may hold permits or add hashes while this one watches.

mod common;

use std::time::Duration;

use app::auth::password::{hash_password, hashes_running};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_requests_cannot_stack_up_hashes() {
    common::within_time_limit("dropped_requests_cannot_stack_up_hashes", async {
        // The server's limit: one hash per core.
        let permits = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let mut most = 0;
        // Wave after wave of requests that give up after 5 ms, each wave more than the
        // limit: with the permit freed by a dropped request, every wave would start new
        // hashes while the earlier ones still run, and more than `permits` would run.
        for wave in 0..20 {
            for i in 0..permits + 2 {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_millis(5),
                        hash_password(format!("wave {wave} password {i}")),
                    )
                    .await;
                });
            }
            for _ in 0..5 {
                most = most.max(hashes_running());
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        // Watch until every hash started has ended.
        common::eventually("every hash ends", common::WAIT_LIMIT, async || {
            let running = hashes_running();
            most = most.max(running);
            running == 0
        })
        .await;
        assert!(most >= 1, "no hash was seen running");
        assert!(
            most <= permits,
            "{most} hashes ran at once with {permits} permits"
        );
    })
    .await;
}
