pack {
  name = "dosing", version = "0.1.0", owner = "pharmacy informatics",
  description = "Dose range (single and daily, summed across products), dose per kilogram, dose for kidney function, "
    .. "and route of administration: the order checks a CPOE test scores first",
}
