pack {
  name = "allergy", version = "0.1.0", owner = "pharmacy informatics",
  description = "Drug-allergy screening: direct matches and cross-sensitivity between allergen classes",
}
