pack {
  name = "context", version = "0.1.0", owner = "pharmacy informatics",
  description = "Patient-context checks: therapeutic duplication, drug-disease, age, pregnancy and lactation, drug-lab",
}
