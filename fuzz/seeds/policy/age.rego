package palisade.image_age

# Deny images built more than 90 days before the evaluation clock (input.now).
max_age_days := 90

deny contains msg if {
	input.image.created
	age_ns := time.parse_rfc3339_ns(input.now) - time.parse_rfc3339_ns(input.image.created)
	age_ns > ((max_age_days * 24) * 3600) * 1000000000
	msg := sprintf("the image was built more than %d days ago (%s)", [max_age_days, input.image.created])
}

warn contains {"msg": "the image runs as root", "fix": "Set USER in the Dockerfile"} if {
	input.image.user == "root"
}
