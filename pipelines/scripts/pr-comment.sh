#!/usr/bin/env bash
# Posts (or updates) one pull-request thread per stack with a pulumi preview:
# the summary first (resource counts, policy results), then the diff, cut to
# what an Azure DevOps comment holds, with the full output one click away.
# Every value goes through files, never the command line (a 172 KB preview
# once gave "Argument list too long"), and the thread is found again by its
# marker, so a new push updates it instead of opening another.
#
# Environment: STACK, PREVIEW_FILE (the tee'd preview output), API (the
# pull request's REST URL: <collection><project>/_apis/git/repositories/
# <repo>/pullRequests/<id>), SYSTEM_ACCESSTOKEN, ARTIFACT_URL (where the full
# output is published).
set -euo pipefail
: "${STACK:?}" "${PREVIEW_FILE:?}" "${API:?}" "${SYSTEM_ACCESSTOKEN:?}" "${ARTIFACT_URL:=}"
max_diff=${MAX_DIFF_CHARS:-100000}
marker="<!-- pulumi-preview:${STACK} -->"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Summary: the "Resources:" and "Policies:" blocks Pulumi prints at the end.
awk '/^(Resources|Policies|Policy Violations):/{p=1} p && /^$/{p=0} p' "$PREVIEW_FILE" >"$work/summary"
[ -s "$work/summary" ] || echo "(no summary in the preview output: see the full output)" >"$work/summary"
head -c "$max_diff" "$PREVIEW_FILE" >"$work/diff"
truncated=""
if [ "$(wc -c <"$PREVIEW_FILE")" -gt "$max_diff" ]; then
  truncated="The diff is cut at ${max_diff} characters."
fi
jq -Rrs --arg marker "$marker" --arg stack "$STACK" --arg url "$ARTIFACT_URL" --arg cut "$truncated" \
  --rawfile diff "$work/diff" '
  $marker + "\n### pulumi preview --stack " + $stack + "\n\n```\n" + . + "```\n\n" +
  (if $url != "" then "[Full preview output](" + $url + ")\n\n" else "" end) +
  (if $cut != "" then $cut + "\n\n" else "" end) +
  "<details><summary>Diff</summary>\n\n```\n" + $diff + "\n```\n</details>\n"' "$work/summary" >"$work/content"

auth=(-H "Authorization: Bearer ${SYSTEM_ACCESSTOKEN}" -H "Content-Type: application/json")
curl -fsS "${auth[@]}" "${API}/threads?api-version=7.1" -o "$work/threads"
read -r thread comment < <(jq -r --arg marker "$marker" '
  [(.value // [])[] | select(any(.comments[]?; (.content // "") | startswith($marker))) |
   {t: .id, c: ([.comments[] | select((.content // "") | startswith($marker))][0].id)}][0] |
  if . == null then "none none" else "\(.t) \(.c)" end' "$work/threads")
if [ "$thread" = none ]; then
  jq -Rs '{comments: [{parentCommentId: 0, content: ., commentType: 1}], status: 1}' "$work/content" >"$work/body"
  curl -fsS -X POST "${auth[@]}" --data-binary "@$work/body" "${API}/threads?api-version=7.1" >/dev/null
  echo "posted the ${STACK} preview in a new thread"
else
  jq -Rs '{content: .}' "$work/content" >"$work/body"
  curl -fsS -X PATCH "${auth[@]}" --data-binary "@$work/body" \
    "${API}/threads/${thread}/comments/${comment}?api-version=7.1" >/dev/null
  echo "updated the ${STACK} preview in thread ${thread}"
fi
