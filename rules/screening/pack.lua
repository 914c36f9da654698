pack {
  name = "screening", version = "0.1.0", owner = "pharmacy informatics",
  description = "Says what could not be screened, so silence is never mistaken for safety",
}
