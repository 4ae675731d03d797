package infra

import (
	"slices"
	"sort"
)

// ACSDataLocations are the data locations of Azure Communication Services
// (where an ACS resource, its Email service included, keeps the data it
// stores: messages in transit, logs), and the countries each lies in.
// Source: https://learn.microsoft.com/azure/communication-services/concepts/privacy
// ("Data residency", read 2026-12-02); "Europe" is the EU Data Boundary.
var ACSDataLocations = map[string][]string{
	"Africa":        {"za"},
	"Asia Pacific":  {"hk", "sg"},
	"Australia":     {"au"},
	"Brazil":        {"br"},
	"Canada":        {"ca"},
	"Europe":        unions["eu"],
	"France":        {"fr"},
	"Germany":       {"de"},
	"India":         {"in"},
	"Japan":         {"jp"},
	"Korea":         {"kr"},
	"Norway":        {"no"},
	"Switzerland":   {"ch"},
	"UAE":           {"ae"},
	"UK":            {"uk"},
	"United States": {"us"},
}

// DataLocationWithin reports whether every country a mail relay's data
// location lies in is inside the residency boundary. location is an ACS
// data location or a boundary code (for another relay, as its operator
// states it).
func DataLocationWithin(location, boundary string) bool {
	countries, ok := ACSDataLocations[location]
	if !ok {
		if !KnownBoundary(location) {
			return false
		}
		countries = boundaryCountries(location)
	}
	inside := boundaryCountries(boundary)
	for _, c := range countries {
		if !slices.Contains(inside, c) {
			return false
		}
	}
	return true
}

// boundaryCountries are the countries of a residency boundary code: a
// union's members, or the one country.
func boundaryCountries(code string) []string {
	if u, ok := unions[code]; ok {
		return u
	}
	return []string{code}
}

// dataLocationNames are the accepted values of smtpDataLocation, sorted.
func dataLocationNames() []string {
	out := Boundaries()
	for n := range ACSDataLocations {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
