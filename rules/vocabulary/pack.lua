-- The drug vocabulary shared by every pack: RxNorm ingredients (with salts and brand names for
-- matching free text), products mapped to ingredients, and drug classes. No rules.
pack {
  name = "vocabulary", version = "0.1.0", owner = "pharmacy informatics",
  description = "RxNorm ingredients, products and drug classes compiled from ../shared/corpus",
}
