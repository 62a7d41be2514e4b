package p

root if not input.image.user
root if split(input.image.user, ":")[0] in {"", "root", "0"}
warn contains {"msg": "root", "fix": "USER"} if root
deny contains msg if { some f in input.vulnerabilities.findings; msg := sprintf("%s", [f.id]) }
