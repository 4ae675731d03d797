package chartcheck

import (
	"fmt"
	"slices"
	"sort"
)

// A model of Kubernetes RBAC, enough to say who may read Secrets and where
// (https://kubernetes.io/docs/reference/access-authn-authz/rbac/, read
// 2026-12-02):
//   - a ClusterRoleBinding grants its ClusterRole's rules in every
//     namespace; a RoleBinding grants its Role's, or a ClusterRole's, rules
//     in the binding's namespace only ("A RoleBinding can also reference a
//     ClusterRole ... within the RoleBinding's namespace");
//   - "*" in apiGroups, resources or verbs matches everything;
//   - a rule with resourceNames covers only the objects it names;
//   - an aggregated ClusterRole's rules are those of every ClusterRole
//     whose labels match one of its clusterRoleSelectors ("Aggregated
//     ClusterRoles").

// SecretGrant is one subject's read access to Secrets.
type SecretGrant struct {
	// Subject is "namespace/serviceaccount" (or "User:name", "Group:name").
	Subject string
	// Namespace is where it may read: "*" for every namespace.
	Namespace string
	// Via is the binding and role that grant it.
	Via string
}

func (g SecretGrant) String() string {
	return fmt.Sprintf("%s reads Secrets in %s (%s)", g.Subject, g.Namespace, g.Via)
}

// SecretReaders returns who may get, list or watch Secrets other than
// by name, sorted.
func SecretReaders(objs []Object) []SecretGrant {
	clusterRoles, roles := map[string]Object{}, map[string]Object{}
	for _, o := range objs {
		switch o.Kind() {
		case "ClusterRole":
			clusterRoles[o.Name()] = o
		case "Role":
			roles[o.Namespace()+"/"+o.Name()] = o
		}
	}
	rulesOf := func(role Object) []any {
		rs, _ := role.Get("rules").([]any)
		sel, _ := role.Get("aggregationRule.clusterRoleSelectors").([]any)
		for _, s := range sel {
			want, _ := asMap(s)["matchLabels"].(map[string]any)
			for _, other := range clusterRoles {
				if other.Name() != role.Name() && labelsMatch(labelsOfObject(other), want) {
					more, _ := other.Get("rules").([]any)
					rs = append(rs, more...)
				}
			}
		}
		return rs
	}
	var out []SecretGrant
	for _, b := range objs {
		kind := b.Kind()
		if kind != "ClusterRoleBinding" && kind != "RoleBinding" {
			continue
		}
		var role Object
		var ok bool
		switch b.Str("roleRef.kind") {
		case "ClusterRole":
			role, ok = clusterRoles[b.Str("roleRef.name")]
		case "Role":
			role, ok = roles[b.Namespace()+"/"+b.Str("roleRef.name")]
		}
		if !ok || !readsSecrets(rulesOf(role)) {
			continue
		}
		where := "*"
		if kind == "RoleBinding" {
			where = b.Namespace()
		}
		subjects, _ := b.Get("subjects").([]any)
		for _, s := range subjects {
			m := asMap(s)
			subject := fmt.Sprintf("%v:%v", m["kind"], m["name"])
			if m["kind"] == "ServiceAccount" {
				ns, _ := m["namespace"].(string)
				if ns == "" {
					ns = b.Namespace()
				}
				subject = fmt.Sprintf("%s/%v", ns, m["name"])
			}
			out = append(out, SecretGrant{subject, where, fmt.Sprintf("%s %s -> %s %s", kind, b.Name(), b.Str("roleRef.kind"), b.Str("roleRef.name"))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// readsSecrets reports whether a rule list allows get, list or watch on
// core Secrets without naming them.
func readsSecrets(rules []any) bool {
	for _, r := range rules {
		m := asMap(r)
		if names, _ := m["resourceNames"].([]any); len(names) > 0 {
			continue
		}
		if has(m["apiGroups"], "") && has(m["resources"], "secrets") &&
			(has(m["verbs"], "get") || has(m["verbs"], "list") || has(m["verbs"], "watch")) {
			return true
		}
	}
	return false
}

// has reports whether a YAML list holds want or "*".
func has(list any, want string) bool {
	l, _ := list.([]any)
	return slices.ContainsFunc(l, func(v any) bool { return v == want || v == "*" })
}

func labelsOfObject(o Object) map[string]any {
	l, _ := o.Get("metadata.labels").(map[string]any)
	return l
}

func labelsMatch(have, want map[string]any) bool {
	if len(want) == 0 {
		return false
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
