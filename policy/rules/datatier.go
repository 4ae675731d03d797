package rules

import (
	"fmt"
	"strings"
)

// Custom resource types of the data tier's operators.
const (
	typePerconaMySQL = "kubernetes:ps.percona.com/v1:PerconaServerMySQL"
	typeRedisCluster = "kubernetes:redis.redis.opstreelabs.in/v1beta2:RedisCluster"
	typeCertificate  = "kubernetes:cert-manager.io/v1:Certificate"
	typeStatefulSet  = "kubernetes:apps/v1:StatefulSet"
)

// number reads a JSON number (float64) or an int.
func number(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case int:
		return n
	}
	return -1
}

// DataTierHA refuses a prod database or sessions store that one failure
// takes down: a MySQL group of fewer than three members (or without a
// proxy to follow its primary, or with members free to share a node or
// zone), a Redis Cluster of fewer than three leaders or without a follower
// for each in another failure domain, a disruption budget that lets a
// drain take two at once, and a serving store that is one StatefulSet pod.
var DataTierHA = Rule{
	ID:          "data-tier-ha",
	Description: "In prod, the database is a group replication cluster of at least three members behind at least two proxies, the session store a Redis Cluster of at least three leaders each with a follower, every member kept apart by a required anti-affinity, with disruption budgets of one; no data store on the serving path is a single pod.",
	Enforcement: Mandatory,
	Check: func(s *Stack) []Finding {
		if s.Environment != "prod" {
			return nil
		}
		var out []Finding
		add := func(r Resource, format string, args ...any) {
			out = append(out, Finding{r.URN, fmt.Sprintf(format, args...)})
		}
		mysql, redis := false, false
		for _, r := range s.Resources {
			name := r.String("metadata.namespace") + "/" + r.String("metadata.name")
			switch r.Type {
			case typePerconaMySQL:
				mysql = true
				if n := number(r.Input("spec.mysql.size")); n < 3 {
					add(r, "PerconaServerMySQL %s has %d member(s): one failure stops the database (prod needs at least 3)", name, n)
				}
				if r.Input("spec.unsafeFlags.mysqlSize") == true || r.Input("spec.unsafeFlags.proxySize") == true {
					add(r, "PerconaServerMySQL %s sets unsafeFlags: the operator's minimum sizes are off", name)
				}
				if r.Input("spec.proxy.haproxy.enabled") != true || number(r.Input("spec.proxy.haproxy.size")) < 2 {
					add(r, "PerconaServerMySQL %s has no proxy of at least 2 pods: Moodle would lose the primary's endpoint with one pod", name)
				}
				for _, part := range []string{"mysql", "proxy.haproxy"} {
					if k := r.String("spec." + part + ".affinity.antiAffinityTopologyKey"); k == "" || k == "none" {
						add(r, "PerconaServerMySQL %s: spec.%s has no required anti-affinity, so two pods may share a node or zone", name, part)
					}
					if n := number(r.Input("spec." + part + ".podDisruptionBudget.maxUnavailable")); n != 1 {
						add(r, "PerconaServerMySQL %s: spec.%s.podDisruptionBudget.maxUnavailable is %d, not 1", name, part, n)
					}
				}
			case typeRedisCluster:
				redis = true
				leaders := number(r.Input("spec.redisLeader.replicas"))
				if leaders < 0 {
					leaders = number(r.Input("spec.clusterSize"))
				}
				followers := number(r.Input("spec.redisFollower.replicas"))
				if followers < 0 {
					followers = number(r.Input("spec.clusterSize"))
				}
				if leaders < 3 {
					add(r, "RedisCluster %s has %d leader(s): a failover needs a majority of at least 3", name, leaders)
				}
				if followers < leaders {
					add(r, "RedisCluster %s has %d follower(s) for %d leaders: a leader without one loses its sessions with its pod", name, followers, leaders)
				}
				for _, role := range []string{"redisLeader", "redisFollower"} {
					if !pairAntiAffinity(r.Input("spec." + role + ".affinity")) {
						add(r, "RedisCluster %s: spec.%s has no required anti-affinity between a leader and its follower (matchLabelKeys apps.kubernetes.io/pod-index)", name, role)
					}
					if r.Input("spec."+role+".pdb.enabled") != true || number(r.Input("spec."+role+".pdb.maxUnavailable")) != 1 {
						add(r, "RedisCluster %s: spec.%s.pdb is not enabled with maxUnavailable 1", name, role)
					}
				}
			case typeStatefulSet:
				// A single-pod store in the data namespace on the serving path:
				// anything but the cache (which Moodle only warms) and the
				// single-instance MySQL a moving stack keeps until its import.
				if r.String("metadata.namespace") != dataNS || number(r.Input("spec.replicas")) > 1 {
					continue
				}
				switch r.String("metadata.name") {
				case "redis-cache", "mysql":
					continue
				}
				add(r, "StatefulSet %s is a single pod in the data namespace", name)
			}
		}
		if hasType(s, typeNamespace) {
			if !mysql {
				out = append(out, Finding{"", "no PerconaServerMySQL cluster: the prod database must be replicated"})
			}
			if !redis {
				out = append(out, Finding{"", "no RedisCluster: the prod sessions must be replicated"})
			}
		}
		return out
	},
}

// pairAntiAffinity reports whether an affinity keeps the two pods of one
// shard apart: a required pod anti-affinity term that matches on the pod
// index.
func pairAntiAffinity(v any) bool {
	aff, _ := v.(map[string]any)
	anti, _ := aff["podAntiAffinity"].(map[string]any)
	terms, _ := anti["requiredDuringSchedulingIgnoredDuringExecution"].([]any)
	for _, t := range terms {
		term, _ := t.(map[string]any)
		keys, _ := term["matchLabelKeys"].([]any)
		topo, _ := term["topologyKey"].(string)
		for _, k := range keys {
			if k == "apps.kubernetes.io/pod-index" && topo != "" {
				return true
			}
		}
	}
	return false
}

// DataTierTLS requires the data stores, which are outside the mesh, to
// speak TLS with a certificate the stack issues: the MySQL cluster's
// sslSecretName and the Redis Cluster's TLS secret each come from a
// cert-manager Certificate in the data namespace.
var DataTierTLS = Rule{
	ID:          "data-tier-tls",
	Description: "The data stores outside the mesh encrypt their traffic: each PerconaServerMySQL's sslSecretName and each RedisCluster's TLS secret is a cert-manager Certificate of the stack.",
	Enforcement: Mandatory,
	Check: func(s *Stack) []Finding {
		certs := map[string]bool{}
		for _, r := range s.Resources {
			if r.Type == typeCertificate {
				certs[r.String("metadata.namespace")+"/"+r.String("spec.secretName")] = true
			}
		}
		var out []Finding
		for _, r := range s.Resources {
			ns := r.String("metadata.namespace")
			var secret, what string
			switch r.Type {
			case typePerconaMySQL:
				secret, what = r.String("spec.sslSecretName"), "spec.sslSecretName"
			case typeRedisCluster:
				secret, what = r.String("spec.TLS.secret.secretName"), "spec.TLS.secret.secretName"
			default:
				continue
			}
			if secret == "" || !certs[ns+"/"+secret] {
				out = append(out, Finding{r.URN, fmt.Sprintf("%s %s/%s: %s %q is no Certificate of the stack, so its traffic is not encrypted with the data tier's CA", r.Type[strings.LastIndex(r.Type, ":")+1:], ns, r.String("metadata.name"), what, secret)})
			}
		}
		return out
	},
}
