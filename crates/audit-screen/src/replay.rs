//! Replay timing as pure logic: the delay before each frame, the keys that steer it, and where
//! a seek starts. The binary owns the clock, the terminal and the keyboard; everything that can
//! be decided without them is decided (and tested) here.
//!
//! Keys: space pauses and resumes; `.` shows one frame while paused; `+` doubles the speed and
//! `-` halves it (between 1/64 and 64); `q` and Ctrl-C quit. (Not Escape: arrow keys start
//! with it.)

use std::time::Duration;

/// How a recording is played.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Playback speed: 2.0 plays twice as fast as recorded.
    pub speed: f64,
    /// A longer pause in the recording is shortened to this (`None`: real time).
    pub idle_limit: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            speed: 1.0,
            idle_limit: None,
        }
    }
}

const MIN_SPEED: f64 = 1.0 / 64.0;
const MAX_SPEED: f64 = 64.0;

/// The recording time between two frames, after the idle limit (not yet divided by the speed).
fn gap(prev: i64, next: i64, idle_limit: Option<Duration>) -> Duration {
    let gap = Duration::from_micros(u64::try_from(next.saturating_sub(prev)).unwrap_or(0));
    idle_limit.map_or(gap, |limit| gap.min(limit))
}

/// The wall-clock delay before each frame of frames at `times` (microseconds, in order): the
/// first is shown at once, each later one after the recorded gap, capped by the idle limit and
/// divided by the speed.
pub fn delays(times: &[i64], options: &Options) -> Vec<Duration> {
    let speed = options.speed.clamp(MIN_SPEED, MAX_SPEED);
    let mut prev = None;
    times
        .iter()
        .map(|&t| {
            let d = prev.map_or(Duration::ZERO, |p| gap(p, t, options.idle_limit));
            prev = Some(t);
            d.div_f64(speed)
        })
        .collect()
}

/// Which chunk a seek to `at` starts from, given the chunks' start times in order: the last one
/// that starts at or before `at` (the first one when `at` is earlier than all).
pub fn seek_chunk(starts: &[i64], at: i64) -> usize {
    starts.partition_point(|&s| s <= at).saturating_sub(1)
}

/// What a key does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// Space: pause, or resume.
    Pause,
    /// `.`: one frame, while paused.
    Step,
    /// `+`: twice as fast.
    Faster,
    /// `-`: half as fast.
    Slower,
    /// `q`, Ctrl-C.
    Quit,
}

impl Key {
    /// The key a byte typed on the terminal stands for, if any.
    pub fn from_byte(byte: u8) -> Option<Key> {
        match byte {
            b' ' => Some(Key::Pause),
            b'.' => Some(Key::Step),
            b'+' | b'=' => Some(Key::Faster),
            b'-' | b'_' => Some(Key::Slower),
            b'q' | b'Q' | 0x03 => Some(Key::Quit),
            _ => None,
        }
    }
}

/// The player's state between frames: speed, pause, and how much recorded time is still to
/// wait before the next frame.
///
/// The binary's loop: [`Player::next_frame`] with the frame's time, then while
/// [`Player::wait`] is not zero, wait that long (forever when `None`) for a key, report the
/// time that passed with [`Player::waited`] and any key with [`Player::key`]; stop when
/// [`Player::quit`]; else show the frame and call [`Player::shown`].
#[derive(Clone, Debug)]
pub struct Player {
    speed: f64,
    idle_limit: Option<Duration>,
    paused: bool,
    step: bool,
    quit: bool,
    last: Option<i64>,
    owed: Duration,
}

impl Player {
    /// A player that is not paused.
    pub fn new(options: Options) -> Self {
        Player {
            speed: options.speed.clamp(MIN_SPEED, MAX_SPEED),
            idle_limit: options.idle_limit,
            paused: false,
            step: false,
            quit: false,
            last: None,
            owed: Duration::ZERO,
        }
    }

    /// The next frame is at `time` (microseconds): start waiting for it.
    pub fn next_frame(&mut self, time: i64) {
        self.owed = self
            .last
            .map_or(Duration::ZERO, |prev| gap(prev, time, self.idle_limit));
        self.last = Some(time);
    }

    /// How long to wait before showing the next frame: zero to show it now, `None` while
    /// paused (wait for a key).
    pub fn wait(&self) -> Option<Duration> {
        if self.quit || self.step {
            Some(Duration::ZERO)
        } else if self.paused {
            None
        } else {
            Some(self.owed.div_f64(self.speed))
        }
    }

    /// `wall` time passed while waiting.
    pub fn waited(&mut self, wall: Duration) {
        if !self.paused {
            self.owed = self.owed.saturating_sub(wall.mul_f64(self.speed));
        }
    }

    /// A key was pressed.
    pub fn key(&mut self, key: Key) {
        match key {
            Key::Pause => self.paused = !self.paused,
            Key::Step => self.step = self.paused,
            Key::Faster => self.speed = (self.speed * 2.0).min(MAX_SPEED),
            Key::Slower => self.speed = (self.speed / 2.0).max(MIN_SPEED),
            Key::Quit => self.quit = true,
        }
    }

    /// The frame was shown.
    pub fn shown(&mut self) {
        self.step = false;
        self.owed = Duration::ZERO;
    }

    /// Whether a quit key was pressed.
    pub fn quit(&self) -> bool {
        self.quit
    }

    /// Whether playback is paused.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// The current speed.
    pub fn speed(&self) -> f64 {
        self.speed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_follow_the_recording_capped_by_idle_limit_and_scaled_by_speed() {
        let times = [10 * S, 10 * S + 500_000, 40 * S, 41 * S];
        let real = delays(&times, &Options::default());
        assert_eq!(real, [ms(0), ms(500), ms(29_500), ms(1000)]);
        let capped = Options {
            speed: 1.0,
            idle_limit: Some(ms(2000)),
        };
        assert_eq!(
            delays(&times, &capped),
            [ms(0), ms(500), ms(2000), ms(1000)]
        );
        let fast = Options {
            speed: 2.0,
            idle_limit: Some(ms(2000)),
        };
        assert_eq!(delays(&times, &fast), [ms(0), ms(250), ms(1000), ms(500)]);
    }

    #[test]
    fn out_of_order_times_never_wait_negative() {
        assert_eq!(delays(&[5 * S, 4 * S], &Options::default()), [ms(0), ms(0)]);
    }

    #[test]
    fn seek_starts_at_the_last_chunk_starting_at_or_before() {
        let starts = [100, 200, 300];
        assert_eq!(seek_chunk(&starts, 50), 0);
        assert_eq!(seek_chunk(&starts, 100), 0);
        assert_eq!(seek_chunk(&starts, 250), 1);
        assert_eq!(seek_chunk(&starts, 300), 2);
        assert_eq!(seek_chunk(&starts, 10_000), 2);
        assert_eq!(seek_chunk(&[], 5), 0);
    }

    #[test]
    fn keys_map_to_actions() {
        assert_eq!(Key::from_byte(b' '), Some(Key::Pause));
        assert_eq!(Key::from_byte(b'.'), Some(Key::Step));
        assert_eq!(Key::from_byte(b'+'), Some(Key::Faster));
        assert_eq!(Key::from_byte(b'-'), Some(Key::Slower));
        assert_eq!(Key::from_byte(b'q'), Some(Key::Quit));
        assert_eq!(Key::from_byte(3), Some(Key::Quit));
        assert_eq!(Key::from_byte(b'x'), None);
        assert_eq!(Key::from_byte(0x1b), None, "arrow keys start with ESC");
    }

    #[test]
    fn pause_step_and_resume() {
        let mut p = Player::new(Options::default());
        p.next_frame(0);
        assert_eq!(p.wait(), Some(Duration::ZERO), "first frame at once");
        p.shown();
        p.next_frame(S);
        assert_eq!(p.wait(), Some(ms(1000)));
        p.waited(ms(300));
        p.key(Key::Pause);
        assert!(p.paused());
        assert_eq!(p.wait(), None, "paused: wait for a key");
        p.waited(ms(5000)); // time passing while paused does not count
        p.key(Key::Step);
        assert_eq!(p.wait(), Some(Duration::ZERO), "one frame now");
        p.shown();
        p.next_frame(2 * S);
        assert_eq!(p.wait(), None, "still paused after the step");
        p.key(Key::Pause);
        assert_eq!(p.wait(), Some(ms(1000)));
    }

    #[test]
    fn resuming_keeps_what_was_already_waited() {
        let mut p = Player::new(Options::default());
        p.next_frame(0);
        p.shown();
        p.next_frame(S);
        p.waited(ms(700));
        p.key(Key::Pause);
        p.key(Key::Pause);
        assert_eq!(p.wait(), Some(ms(300)));
    }

    #[test]
    fn step_while_playing_does_nothing() {
        let mut p = Player::new(Options::default());
        p.next_frame(0);
        p.shown();
        p.next_frame(S);
        p.key(Key::Step);
        assert_eq!(p.wait(), Some(ms(1000)));
    }

    #[test]
    fn speed_changes_apply_to_the_rest_of_the_wait_and_are_bounded() {
        let mut p = Player::new(Options::default());
        p.next_frame(0);
        p.shown();
        p.next_frame(4 * S);
        p.waited(ms(1000)); // 3 s of recording left
        p.key(Key::Faster);
        assert_eq!(p.speed(), 2.0);
        assert_eq!(p.wait(), Some(ms(1500)));
        p.key(Key::Slower);
        p.key(Key::Slower);
        assert_eq!(p.wait(), Some(ms(6000)));
        for _ in 0..20 {
            p.key(Key::Faster);
        }
        assert_eq!(p.speed(), 64.0);
        for _ in 0..40 {
            p.key(Key::Slower);
        }
        assert_eq!(p.speed(), 1.0 / 64.0);
    }

    #[test]
    fn quit_ends_any_wait() {
        let mut p = Player::new(Options::default());
        p.next_frame(0);
        p.key(Key::Pause);
        p.key(Key::Quit);
        assert!(p.quit());
        assert_eq!(p.wait(), Some(Duration::ZERO));
    }
}
