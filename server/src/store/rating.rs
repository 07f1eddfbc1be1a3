//! Elo ratings for the leaderboard.

use crate::game::SeatResult;

/// Rating every player starts with.
pub const START_RATING: f64 = 1000.0;
/// Elo K-factor: how far one game moves a rating.
const ELO_K: f64 = 32.0;

/// New Elo ratings: each seat is scored against every other seat (win 1, draw ½, loss 0),
/// with K shared over the opponents so a many-seat game moves ratings as much as a duel.
pub fn elo(ratings: &[f64], outcomes: &[SeatResult]) -> Vec<f64> {
    let n = ratings.len();
    if n < 2 {
        return ratings.to_vec();
    }
    let score = |a: SeatResult, b: SeatResult| match (a, b) {
        (SeatResult::Win, SeatResult::Loss) => 1.0,
        (SeatResult::Loss, SeatResult::Win) => 0.0,
        _ => 0.5,
    };
    let k = ELO_K / (n - 1) as f64;
    (0..n)
        .map(|i| {
            let delta: f64 = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let expected = 1.0 / (1.0 + 10f64.powf((ratings[j] - ratings[i]) / 400.0));
                    k * (score(outcomes[i], outcomes[j]) - expected)
                })
                .sum();
            ratings[i] + delta
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elo_moves_equal_players_by_half_k() {
        let r = elo(&[1000.0, 1000.0], &[SeatResult::Win, SeatResult::Loss]);
        assert_eq!(r, vec![1016.0, 984.0]);
        let d = elo(&[1000.0, 1000.0], &[SeatResult::Draw, SeatResult::Draw]);
        assert_eq!(d, vec![1000.0, 1000.0]);
    }

    #[test]
    fn the_favourite_gains_less_for_a_win() {
        let r = elo(&[1200.0, 1000.0], &[SeatResult::Win, SeatResult::Loss]);
        assert!(r[0] - 1200.0 < 16.0 && r[0] > 1200.0);
    }
}
