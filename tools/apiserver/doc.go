// Package apiserver runs a real Kubernetes API server (kube-apiserver built
// from the k8s.io/kubernetes module at the cluster's release, with etcd from
// Debian's etcd-server package) on loopback, and sends it every object the
// program renders and every object the pinned charts template: CRDs and
// namespaces for real, the rest as server-side dry-run applies with strict
// field validation, so the server's own validation, defaulting, admission
// (Pod Security among it) and the CRDs' OpenAPI and CEL rules judge them.
// It is its own Go module so that neither the program nor tools/chartcheck
// carries Kubernetes' dependencies.
package apiserver
