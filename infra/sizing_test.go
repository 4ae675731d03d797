package infra

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBufferPoolMiB(t *testing.T) {
	cases := map[int]int{
		1024:  512,  // 50% under 2 GiB
		1536:  768,  // 50%, 6 chunks
		2048:  1152, // 60% of 2048 = 1228 -> 9 chunks
		4096:  2432, // 60% = 2457 -> 19 chunks
		16384: 9728, // 60% = 9830 -> 76 chunks
		200:   128,  // never below one chunk
	}
	for mem, want := range cases {
		got := BufferPoolMiB(mem)
		assert.Equal(t, want, got, "%d MiB", mem)
		assert.Zero(t, got%128, "whole chunks")
		assert.LessOrEqual(t, got, max(mem*60/100, 128))
	}
}

func TestMaxConnections(t *testing.T) {
	c := &Config{WebMaxReplicas: 3}
	assert.Equal(t, 3*16+30, c.MaxConnections())
	c = &Config{WebMaxReplicas: 80, Integrations: map[string]Integration{"a": {}, "b": {}}}
	assert.Equal(t, 80*16+30+8, c.MaxConnections(), "integrations add their share")
}

func TestMySQLMemoryMustHoldConnections(t *testing.T) {
	v := valid("prod")
	v["webMaxReplicas"] = "200"
	v["mysqlMemoryMiB"] = "8192"
	_, err := load(t, v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "config moodle-aks:mysqlMemoryMiB: 8192 MiB is too small for 3230 connections")

	v["mysqlMemoryMiB"] = "32768"
	// 32 GiB of MySQL needs a node larger than the default D8s_v5 (32 GiB).
	v["userPool"] = `{"vmSize": "Standard_E16s_v5", "maxCount": 60}`
	c, err := load(t, v)
	require.NoError(t, err)
	assert.Equal(t, 3230, c.MaxConnections())
	assert.LessOrEqual(t, MySQLMemoryNeededMiB(BufferPoolMiB(c.MysqlMemoryMiB), c.MaxConnections()), c.MysqlMemoryMiB)
}

func TestRedisMaxMemory(t *testing.T) {
	assert.Equal(t, 768, RedisMaxMemoryMiB(1024))
	assert.Equal(t, 192, RedisMaxMemoryMiB(256))
}

func TestVMCapacity(t *testing.T) {
	for size, want := range map[string][2]int{
		"Standard_D8s_v5":    {8, 32768},
		"Standard_E16ads_v5": {16, 131072},
		"Standard_F4s_v2":    {4, 8192},
		"Standard_D2s_v5":    {2, 8192},
	} {
		cpu, mem, err := VMCapacity(size)
		require.NoError(t, err, size)
		assert.Equal(t, want, [2]int{cpu, mem}, size)
	}
	_, _, err := VMCapacity("Standard_NC24ads_A100_v4")
	assert.Error(t, err)
}

func TestWebReplicasMustFitTheUserPool(t *testing.T) {
	v := valid("prod")
	v["webMaxReplicas"] = "120"
	v["userPool"] = `{"vmSize": "Standard_D4s_v5", "maxCount": 10}`
	_, err := load(t, v)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "config moodle-aks:webMaxReplicas: 120 web pods do not fit the user pool at userPool.maxCount 10 x Standard_D4s_v5")

	v["userPool"] = `{"vmSize": "Standard_D8s_v5", "maxCount": 60}`
	_, err = load(t, v)
	assert.NoError(t, err, "a bigger pool holds them")
}
