//! Promise 1: an action acknowledged `ok` survives `kill -9` of its server.
//!
//! Runs the real `gamehub` binary, plays many tic-tac-toe games with several
//! clients at once, kills the server with SIGKILL at random moments (at least
//! 20 kill points), restarts it on the same database, and checks that every
//! acknowledged move is in the recovered board, that every acknowledged game
//! end reached the leaderboard, and that play goes on. Prints the seed (set
//! CRASH_SEED to replay a run) and how many acknowledged actions it checked.

use loadtest::client::{Client, ClientConfig};
use protocol::events::Joined;
use protocol::http::LeaderboardResponse;
use protocol::{Ack, PlayerRef, RoomStatus};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

const KILL_POINTS: usize = 22;
const PAIRS: usize = 6;

/// The real server binary, running on a database directory.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(db: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gamehub"))
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("DB_PATH", db)
            .env("SECRET_KEY", "crash-test-secret-crash-test-secret!!")
            .env("RUST_LOG", "info")
            // Bots play as fast as acks come back, far above a person's pace.
            .env("RATE_LIMIT_PER_SEC", "10000")
            .env("RATE_LIMIT_BURST", "10000")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gamehub");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std_mpsc::channel();
        // Keep draining the output so the server never blocks on a full pipe.
        let log_path = db.with_extension(format!("{}.log", child.id()));
        std::thread::spawn(move || {
            use std::io::Write;
            let mut log = std::fs::File::create(log_path).ok();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                if let Some(at) = line.find("listening on http://") {
                    let _ = tx.send(line[at + "listening on ".len()..].trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("server announced its address");
        Server { child, url }
    }

    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the test knows a pair of players was acknowledged.
#[derive(Default)]
struct Pair {
    room: Option<String>,
    /// Acknowledged moves in the current room: (seat, cell).
    moves: Vec<(u8, u8)>,
    /// A request was in flight when the server died (it may or may not have been applied).
    in_flight: bool,
    /// Games whose final move was acknowledged.
    finished: u32,
}

struct Players {
    me: [PlayerRef; 2],
    tokens: [String; 2],
}

fn winner_or_draw(board: &[Option<u8>; 9]) -> bool {
    const LINES: [[usize; 3]; 8] = [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8],
        [0, 3, 6],
        [1, 4, 7],
        [2, 5, 8],
        [0, 4, 8],
        [2, 4, 6],
    ];
    LINES
        .iter()
        .any(|l| board[l[0]].is_some() && board[l[0]] == board[l[1]] && board[l[1]] == board[l[2]])
        || board.iter().all(Option::is_some)
}

async fn connect(url: &str, token: &str) -> Client {
    let config = ClientConfig {
        ack_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    };
    Client::connect_with(&config, url, Some(json!({ "token": token })))
        .await
        .expect("connect")
}

async fn ask(c: &Client, event: &str, data: Value) -> Option<Ack<Value>> {
    c.emit_with_ack(event, &data).await.ok()
}

/// Rejoins the pair's room after a restart and checks every acknowledged
/// move is on the board. Returns the clients and the recovered board, or
/// `None` when the room is legitimately gone (its last move was in flight
/// and ended the game).
async fn rejoin(
    url: &str,
    players: &Players,
    pair: &mut Pair,
) -> ([Client; 2], Option<[Option<u8>; 9]>, usize) {
    let clients = [
        connect(url, &players.tokens[0]).await,
        connect(url, &players.tokens[1]).await,
    ];
    let Some(room) = pair.room.clone() else {
        return (clients, None, 0);
    };
    let mut state = None;
    for (seat, c) in clients.iter().enumerate() {
        let ack: Ack<Joined> = c
            .emit_with_ack("room:join", &json!({"roomId": room}))
            .await
            .unwrap_or_else(|e| panic!("join of room {room} at {url} got no answer: {e}"));
        match ack {
            Ack::Ok(joined) => {
                assert_eq!(
                    joined.seat,
                    Some(seat as u8),
                    "seat {seat} comes back to its player"
                );
                state = Some(joined);
            }
            Ack::Err(e) => {
                assert!(
                    pair.in_flight,
                    "room {room} lost although nothing was in flight: {e}"
                );
                pair.room = None;
                pair.moves.clear();
                return (clients, None, 0);
            }
        }
    }
    let joined = state.expect("joined");
    let board: [Option<u8>; 9] =
        serde_json::from_value(joined.state["board"].clone()).expect("board");
    for &(seat, cell) in &pair.moves {
        assert_eq!(
            board[usize::from(cell)],
            Some(seat),
            "acknowledged move {seat}@{cell} in room {room} was lost"
        );
    }
    let checked = pair.moves.len();
    if joined.room.status == RoomStatus::Finished {
        pair.room = None;
    }
    (clients, Some(board), checked)
}

/// Plays until the server dies (or `limit` moves): creates rooms, joins, and places random free cells.
async fn play(
    clients: [Client; 2],
    mut board: Option<[Option<u8>; 9]>,
    pair: &mut Pair,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    pair.in_flight = false;
    loop {
        let room = match pair.room.clone() {
            Some(room) => room,
            None => {
                pair.in_flight = true;
                let Some(Ack::Ok(created)) =
                    ask(&clients[0], "room:create", json!({"game": "tictactoe"})).await
                else {
                    return;
                };
                let room = created["room"]["id"].as_str().expect("room id").to_string();
                pair.room = Some(room.clone());
                pair.moves.clear();
                let Some(Ack::Ok(_)) = ask(&clients[1], "room:join", json!({"roomId": room})).await
                else {
                    return;
                };
                pair.in_flight = false;
                board = Some([None; 9]);
                room
            }
        };
        let b = board.get_or_insert([None; 9]);
        let placed = b.iter().filter(|c| c.is_some()).count();
        let seat = (placed % 2) as u8;
        let free: Vec<u8> = (0..9u8).filter(|&c| b[usize::from(c)].is_none()).collect();
        let cell = free[rng.random_range(0..free.len())];
        pair.in_flight = true;
        let action = json!({"roomId": room, "action": {"type": "place", "cell": cell}});
        match ask(&clients[usize::from(seat)], "room:action", action).await {
            Some(Ack::Ok(_)) => {
                pair.in_flight = false;
                b[usize::from(cell)] = Some(seat);
                pair.moves.push((seat, cell));
                if winner_or_draw(b) {
                    pair.finished += 1;
                    pair.room = None;
                    pair.moves.clear();
                    board = None;
                }
            }
            Some(Ack::Err(e)) => panic!("legal move refused: {e}"),
            None => return, // the server died mid-request
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_moves_survive_kill_9_at_random_moments() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("crash test seed: {seed} (CRASH_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("gamehub-crash-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "crash test database and server logs: {} (removed when the test passes)",
        dir.display()
    );
    let db = dir.join("gamehub.db");

    let first = Server::start(&db);
    let mut players = Vec::new();
    for i in 0..PAIRS {
        let a = loadtest::http::guest_token(&first.url, &format!("x{i}"))
            .await
            .unwrap();
        let b = loadtest::http::guest_token(&first.url, &format!("o{i}"))
            .await
            .unwrap();
        players.push(Players {
            me: [a.1, b.1],
            tokens: [a.0, b.0],
        });
    }
    let mut pairs: Vec<Pair> = (0..PAIRS).map(|_| Pair::default()).collect();
    let mut checked = 0usize;
    let mut server = Some(first);

    for point in 0..=KILL_POINTS {
        let url = server.as_ref().expect("running").url.clone();
        let mut sessions = Vec::new();
        for (p, pair) in players.iter().zip(pairs.iter_mut()) {
            let (clients, board, n) = rejoin(&url, p, pair).await;
            checked += n;
            sessions.push((clients, board));
        }
        if point == KILL_POINTS {
            break;
        }
        let plays = sessions.into_iter().zip(pairs.iter_mut()).enumerate().map(
            |(i, ((clients, board), pair))| {
                play(clients, board, pair, seed ^ ((point * PAIRS + i) as u64))
            },
        );
        let all = futures_util::future::join_all(plays);
        let kill_after = Duration::from_millis(rng.random_range(20..400));
        let _ = tokio::time::timeout(kill_after, all).await; // dropping `all` drops every client
        server.take().expect("running").kill9();
        server = Some(Server::start(&db));
    }

    // Every acknowledged game end is on the leaderboard (an end in flight may be there too).
    let url = server.as_ref().expect("running").url.clone();
    let board: LeaderboardResponse =
        loadtest::http::get(&url, "/api/v1/leaderboard?game=tictactoe&limit=100")
            .await
            .unwrap()
            .ok_json()
            .unwrap();
    let games: HashMap<&str, u32> = board
        .entries
        .iter()
        .map(|e| (e.player.id.as_str(), e.wins + e.losses + e.draws))
        .collect();
    for (p, pair) in players.iter().zip(&pairs) {
        let recorded = games.get(p.me[0].id.as_str()).copied().unwrap_or(0);
        assert!(
            recorded >= pair.finished,
            "{} acknowledged game ends, {recorded} recorded",
            pair.finished
        );
        checked += pair.finished as usize;
    }
    let finished: u32 = pairs.iter().map(|p| p.finished).sum();
    println!(
        "crash test: {KILL_POINTS} kill points, {checked} acknowledged actions checked ({finished} game ends), 0 lost"
    );
    assert!(checked > 0);
    assert!(finished > 0, "some games ran to their end");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
