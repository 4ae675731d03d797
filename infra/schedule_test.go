package infra

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBackupInsideMaintenanceWindowIsRefusedNamingBothKeys(t *testing.T) {
	cases := []struct {
		name, window, key, schedule, want string
	}{
		// The case: AKS's Sunday 02:00-06:00 UTC and the 02:30 dump.
		{"inside", `{"startHour": 2, "utcOffset": "+00:00"}`, "backupSchedule", "30 2 * * *", "runs Sunday 02:30 UTC"},
		{"ends inside", `{"startHour": 5, "utcOffset": "+00:00"}`, "backupSchedule", "30 3 * * *", "runs Sunday 03:30 UTC"},
		{"offset", `{"startHour": 3, "utcOffset": "-05:00"}`, "filesSnapshotSchedule", "30 7 * * *", "runs Sunday 07:30 UTC"},
		{"week wraps", `{"dayOfWeek": "Saturday", "startHour": 23, "utcOffset": "+00:00"}`, "backupSchedule", "0 1 * * 0", "runs Sunday 01:00 UTC"},
		{"offset wraps", `{"dayOfWeek": "Sunday", "startHour": 1, "utcOffset": "+05:30"}`, "backupSchedule", "0 20 * * 6", "runs Saturday 20:00 UTC"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := valid("dev")
			v["maintenanceWindow"], v[tc.key] = tc.window, tc.schedule
			_, err := load(t, v)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "config moodle-aks:"+tc.key+": ")
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "meets maintenanceWindow", "names the other key")
		})
	}
}

func TestBackupOutsideMaintenanceWindowPasses(t *testing.T) {
	for _, tc := range []struct{ window, schedule string }{
		{`{"startHour": 2, "utcOffset": "+00:00"}`, "30 2 * * 1-6"}, // not on Sundays
		{`{"startHour": 3, "utcOffset": "-05:00"}`, "30 2 * * *"},   // the window is 08:00 UTC
		{`{"startHour": 5, "utcOffset": "+00:00"}`, "0 3 * * *"},    // ends as the window opens
		{`{"startHour": 2, "utcOffset": "+00:00"}`, "0 6 * * *"},    // starts as it closes
		{`{"dayOfWeek": "Sunday", "startHour": 1, "utcOffset": "+05:30"}`, "0 20 * * 1-5"},
	} {
		v := valid("dev")
		v["maintenanceWindow"], v["backupSchedule"], v["filesSnapshotSchedule"] = tc.window, tc.schedule, tc.schedule
		_, err := load(t, v)
		assert.NoError(t, err, "%s with %s", tc.schedule, tc.window)
	}
	// The defaults and the committed stacks' windows pass (prod's is
	// Sunday 03:00 at -05:00, prod-eu's Sunday 05:00 UTC).
	_, err := load(t, valid("prod"))
	assert.NoError(t, err)
}

func TestBackupScheduleTheWindowCheckCannotPlaceIsRefused(t *testing.T) {
	v := valid("dev")
	v["backupSchedule"] = "30 2 1 * *"
	_, err := load(t, v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `config moodle-aks:backupSchedule: "30 2 1 * *": day of month and month must be "*"`)
	v["backupSchedule"] = "30 25 * * *"
	_, err = load(t, v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `hour: "25" is outside 0-23`)
}

func TestCronStartsExpandsListsRangesAndSteps(t *testing.T) {
	got, err := cronStarts("0,30 1-2 * * 1")
	require.NoError(t, err)
	day := minutesPerDay
	assert.Equal(t, []int{day + 60, day + 90, day + 120, day + 150}, got)
	got, err = cronStarts("*/20 0 * * 7") // 7 is Sunday too
	require.NoError(t, err)
	assert.Equal(t, []int{0, 20, 40}, got)
	got, err = cronStarts("5/30 0 * * 0")
	require.NoError(t, err)
	assert.Equal(t, []int{5, 35}, got)
}

// The week arithmetic against an independent model: real instants in the
// window's own zone (time.FixedZone), for random windows and starts.
func TestOverlapsWindowAgreesWithWallClockModel(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	sunday := time.Date(2026, time.November, 29, 0, 0, 0, 0, time.UTC) // a Sunday
	for i := 0; i < 3000; i++ {
		offMin := (r.Intn(28*4) - 12*4) * 15 // -12:00 … +15:45 in quarter hours
		sign := "+"
		if offMin < 0 {
			sign = "-"
		}
		abs := offMin
		if abs < 0 {
			abs = -abs
		}
		w := MaintenanceWindow{DayOfWeek: weekDays[r.Intn(7)], StartHour: r.Intn(24), DurationHours: 4 + r.Intn(21),
			UTCOffset: fmt.Sprintf("%s%02d:%02d", sign, abs/60, abs%60)}
		start := r.Intn(minutesPerWeek)

		zone := time.FixedZone("w", offMin*60)
		run0 := sunday.Add(time.Duration(start) * time.Minute)
		run1 := run0.Add(BackupRunHours * time.Hour)
		want := false
		for week := -1; week <= 1; week++ {
			localSunday := time.Date(2026, time.November, 29+7*week, 0, 0, 0, 0, zone)
			day := 0
			for j, d := range weekDays {
				if d == w.DayOfWeek {
					day = j
				}
			}
			open := localSunday.AddDate(0, 0, day).Add(time.Duration(w.StartHour) * time.Hour)
			shut := open.Add(time.Duration(w.DurationHours) * time.Hour)
			// Runs and windows repeat weekly: compare this week's run and
			// the next week's against each window.
			for _, shift := range []time.Duration{0, 7 * 24 * time.Hour} {
				a, b := run0.Add(shift), run1.Add(shift)
				if a.Before(shut) && open.Before(b) {
					want = true
				}
			}
		}
		got := overlapsWindow([]int{start}, w) >= 0
		require.Equal(t, want, got, "window %+v, start %s", w, weekTime(start))
	}
}
