package infra

import (
	"fmt"
	"strconv"
	"strings"
)

// BackupRunHours is the time the maintenance-window check leaves for each
// backup after its start: a node drain (AKS upgrades drain every node in
// the window) cuts a dump or snapshot still running, so no backup may
// start in the window or within this many hours before it opens.
const BackupRunHours = 2

const (
	minutesPerDay  = 24 * 60
	minutesPerWeek = 7 * minutesPerDay
)

// weekDays are the days as cron numbers them (0 Sunday … 6 Saturday).
var weekDays = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

// cronSet expands one cron field (numbers, "*", lists, ranges, steps) to
// the values it selects in [lo, hi].
func cronSet(field string, lo, hi int) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, part := range strings.Split(field, ",") {
		rng, step := part, 1
		if i := strings.Index(part, "/"); i >= 0 {
			n, err := strconv.Atoi(part[i+1:])
			if err != nil || n < 1 {
				return nil, fmt.Errorf("step %q is not a positive number", part[i+1:])
			}
			rng, step = part[:i], n
		}
		from, to := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err1, err2 error
			from, err1 = strconv.Atoi(a)
			to, err2 = strconv.Atoi(b)
			if err1 != nil || err2 != nil || from > to {
				return nil, fmt.Errorf("range %q is not two ascending numbers", rng)
			}
		default:
			n, err := strconv.Atoi(rng)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", rng)
			}
			from, to = n, n
			if strings.Contains(part, "/") {
				to = hi // "5/15": from 5 on, every 15
			}
		}
		if from < lo || to > hi {
			return nil, fmt.Errorf("%q is outside %d-%d", rng, lo, hi)
		}
		for v := from; v <= to; v += step {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// cronStarts returns the minutes of the week (0 = Sunday 00:00 UTC) a
// five-field schedule in UTC starts at. Only schedules that run on every
// day of the month in every month can be placed in the week: a
// day-of-month or month other than "*" is refused.
func cronStarts(schedule string) ([]int, error) {
	f := strings.Fields(schedule)
	if len(f) != 5 {
		return nil, fmt.Errorf("is not five fields")
	}
	if f[2] != "*" || f[3] != "*" {
		return nil, fmt.Errorf("day of month and month must be \"*\" (the maintenance-window check places a backup in the week)")
	}
	mins, err := cronSet(f[0], 0, 59)
	if err != nil {
		return nil, fmt.Errorf("minute: %w", err)
	}
	hours, err := cronSet(f[1], 0, 23)
	if err != nil {
		return nil, fmt.Errorf("hour: %w", err)
	}
	days, err := cronSet(strings.ReplaceAll(f[4], "7", "0"), 0, 6)
	if err != nil {
		return nil, fmt.Errorf("day of week: %w", err)
	}
	var out []int
	for _, d := range days {
		for _, h := range hours {
			for _, m := range mins {
				out = append(out, d*minutesPerDay+h*60+m)
			}
		}
	}
	return out, nil
}

// utcOffsetMinutes reads "+HH:MM" or "-HH:MM" (already validated).
func utcOffsetMinutes(off string) int {
	h, _ := strconv.Atoi(off[1:3])
	m, _ := strconv.Atoi(off[4:6])
	n := h*60 + m
	if off[0] == '-' {
		n = -n
	}
	return n
}

// windowUTC returns the maintenance window's start as a minute of the UTC
// week, and its length in minutes. Local time = UTC + offset, as AKS's
// utcOffset means it (maintenance-configuration: "+05:30" is IST).
func (w MaintenanceWindow) windowUTC() (start, length int) {
	day := 0
	for i, d := range weekDays {
		if d == w.DayOfWeek {
			day = i
		}
	}
	start = day*minutesPerDay + w.StartHour*60 - utcOffsetMinutes(w.UTCOffset)
	return ((start % minutesPerWeek) + minutesPerWeek) % minutesPerWeek, w.DurationHours * 60
}

// overlapsWindow returns the first start of schedule whose run (the start
// and BackupRunHours after it) meets the window, or -1.
func overlapsWindow(starts []int, w MaintenanceWindow) int {
	ws, wl := w.windowUTC()
	run := BackupRunHours * 60
	for _, s := range starts {
		// Minutes from the window's start to the run's, around the week:
		// the run [s, s+run) meets [ws, ws+wl) when it starts inside the
		// window or less than run minutes before it opens.
		d := ((s-ws)%minutesPerWeek + minutesPerWeek) % minutesPerWeek
		if d < wl || d > minutesPerWeek-run {
			return s
		}
	}
	return -1
}

// weekTime formats a minute of the UTC week: "Sunday 02:30 UTC".
func weekTime(m int) string {
	return fmt.Sprintf("%s %02d:%02d UTC", weekDays[m/minutesPerDay], m%minutesPerDay/60, m%60)
}

// backupWindows checks that no backup runs while AKS may drain its node.
func (v *validator) backupWindows(c *Config) {
	w := c.MaintenanceWindow
	if !utcOffsetRE.MatchString(w.UTCOffset) || w.DurationHours < 1 {
		return // reported by the maintenance window's own checks
	}
	ws, wl := w.windowUTC()
	for _, key := range []string{"backupSchedule", "filesSnapshotSchedule"} {
		sched := map[string]string{"backupSchedule": c.BackupSchedule, "filesSnapshotSchedule": c.FilesSnapshotSchedule}[key]
		if !validCron(sched) {
			continue // reported by sizing
		}
		starts, err := cronStarts(sched)
		if err != nil {
			v.fail(key, "%q: %v", sched, err)
			continue
		}
		if s := overlapsWindow(starts, w); s >= 0 {
			v.fail(key, "%q runs %s, and with the %d hours it may take meets maintenanceWindow (%s to %s, %s %02d:00 %s for %d hours), when AKS drains nodes and cuts a running backup: move %s or maintenanceWindow",
				sched, weekTime(s), BackupRunHours, weekTime(ws), weekTime((ws+wl)%minutesPerWeek), w.DayOfWeek, w.StartHour, w.UTCOffset, w.DurationHours, key)
		}
	}
}
