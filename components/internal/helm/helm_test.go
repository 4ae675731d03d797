package helm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChartValidate(t *testing.T) {
	assert.NoError(t, Chart{IstioRepo, "istiod", "1.30.3"}.Validate())
	assert.NoError(t, Chart{JetstackRepo, "cert-manager", "v1.21.1"}.Validate())
	for _, v := range []string{"", "latest", "1.28", "~1.28.0", ">=1.0.0", "1.28.x"} {
		assert.Error(t, Chart{IstioRepo, "istiod", v}.Validate(), v)
	}
	assert.Error(t, Chart{"", "istiod", "1.30.3"}.Validate())
}

func TestValuesUseJSONNames(t *testing.T) {
	type inner struct {
		Mode string `json:"mode"`
	}
	v, err := Values(struct {
		Replicas int   `json:"replicaCount"`
		Inner    inner `json:"meshConfig"`
		Skip     *int  `json:"skip,omitempty"`
	}{Replicas: 2, Inner: inner{"REGISTRY_ONLY"}})
	require.NoError(t, err)
	assert.Len(t, v, 2, "omitempty fields stay out: no key the chart would silently ignore")
	assert.Contains(t, v, "replicaCount")
	assert.Contains(t, v, "meshConfig")
}
