"""Everything that watches the agent: the policy gate (`policy`, `policy_file`, `approvals`), the
sandbox for its code (`fence`, `sandbox`, and `fenced/`, what runs inside), safe access to its
files (`safe_fs`), the hidden split (`hidden`), `contamination`, model `identity`,
`watchdogs` and `budget`. See docs/SECURITY.md."""
