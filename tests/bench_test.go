package tests

import (
	"testing"

	"github.com/fieldcert/moodle-aks/internal/render"
	"github.com/fieldcert/moodle-aks/policy/rules"
	"github.com/fieldcert/moodle-aks/stacks"
)

// BenchmarkRenderStack renders one region stack under mocks, policy
// included, without writing files:
//
//	go test ./tests -run '^$' -bench RenderStack
func BenchmarkRenderStack(b *testing.B) {
	for _, stack := range []string{"dev", "prod"} {
		b.Run(stack, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				res, err := render.Render(render.Options{Dir: root, Stack: stack, Program: stacks.Program, Rules: rules.All()})
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Resources) == 0 {
					b.Fatal("nothing rendered")
				}
			}
		})
	}
}
