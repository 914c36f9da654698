pack {
  name = "ordersets", version = "0.1.0", owner = "pharmacy informatics",
  description = "Monitoring order sets triggered by drugs being ordered, and care gaps triggered by chronic conditions",
}
