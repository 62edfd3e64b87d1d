package catalog

import (
	"fmt"
	"slices"
	"strings"
)

// CategoryGuess is a starting point for an error type outside the catalog: a category of the
// taxonomy and an actor guessed from its name, and why. It is a draft for a person to review,
// never applied by itself.
type CategoryGuess struct {
	Category string
	Actor    string
	Reason   string
}

// genericWords say how something failed, not what: they carry no category.
var genericWords = map[string]bool{
	"invalid": true, "not": true, "found": true, "missing": true, "too": true, "many": true, "no": true,
	"is": true, "already": true, "exists": true, "exist": true, "required": true, "error": true, "bad": true,
	"unknown": true, "failed": true, "must": true, "be": true, "the": true, "a": true, "for": true, "of": true,
	"in": true, "with": true, "cannot": true, "does": true, "unsupported": true, "empty": true, "mismatch": true,
	"id": true, "type": true, "request": true, "value": true, "format": true, "limit": true, "exceeded": true,
}

func nameWords(errorType string) []string {
	var out []string
	for _, w := range strings.Split(errorType, "_") {
		if w != "" && !genericWords[w] && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// GuessCategory guesses errorType's category from the names of the known entries: each
// category scores one point per word (split on "_", generic words like "invalid" or
// "missing" left out) that errorType shares with one of its entries' names; the best score
// wins, ties going to the earlier category of the taxonomy. The actor is the one most of
// that category's entries name. With no shared word it answers request_validation and
// developer, the generic malformed-request case.
func GuessCategory(errorType string, known []Entry) CategoryGuess {
	words := nameWords(errorType)
	score := map[string]int{}
	hits := map[string][]string{} // category -> shared words
	for _, e := range known {
		for _, w := range nameWords(e.ErrorType) {
			if slices.Contains(words, w) {
				score[e.Category]++
				if !slices.Contains(hits[e.Category], w) {
					hits[e.Category] = append(hits[e.Category], w)
				}
			}
		}
	}
	best := ""
	for _, c := range CategoryNames() {
		if score[c] > score[best] {
			best = c
		}
	}
	if best == "" {
		return CategoryGuess{Category: "request_validation", Actor: ActorDeveloper,
			Reason: "no word of the name matches a catalog type; request_validation is the generic category"}
	}
	actors := map[string]int{}
	for _, e := range known {
		if e.Category == best {
			actors[e.Actor]++
		}
	}
	actor := ActorDeveloper
	for _, a := range []string{ActorDeveloper, ActorEndUser, ActorAdmin} {
		if actors[a] > actors[actor] {
			actor = a
		}
	}
	slices.Sort(hits[best])
	return CategoryGuess{Category: best, Actor: actor,
		Reason: fmt.Sprintf("shares %q with %d catalog type name(s) in %s", strings.Join(hits[best], ", "), score[best], best)}
}
