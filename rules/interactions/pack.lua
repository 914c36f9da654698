pack {
  name = "interactions", version = "0.1.0", owner = "pharmacy informatics",
  description = "Drug-drug interaction screening: ONC high-priority and other widely cited pairs",
}
