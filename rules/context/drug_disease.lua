-- rules/context/drug_disease.lua — owner: pharmacy informatics
-- A drug ordered for a patient with a condition its label (or a guideline) warns against:
-- tables/drug_disease.tsv, one row per drug (or class) x condition code set. Conditions are the
-- patient's active ones (refuted, entered-in-error, resolved and inactive entries never count);
-- codes are matched per system (SNOMED CT, ICD-10-CM with "*" for a code and everything under
-- it), with text words as a fallback. Without a problem list (the key not sent or failed) the
-- check cannot run: screen.unresolved or the did-not-run card says so; it never claims "no
-- contraindication".

local INDICATOR = { critical = "critical", warning = "warning", info = "info" }

local ROWS = knowledge_table("drug_disease", {
  id = "id", drug = "drug", drug_label = "text", conditions = "codes", condition_label = "text",
  severity = { "critical", "warning", "info" }, note = "text", source = "text",
  required = { "id", "drug", "conditions", "severity", "note", "source" },
})
local BY_INGREDIENT = index_by_ingredient(ROWS, "drug")
local NONE = {}

rule {
  id = "context.drug-disease", version = "1.0.0",
  title = "Drug-disease contraindication",
  hooks = { "order-select", "order-sign" },
  references = { "FDA prescribing information and published criteria, per row of tables/drug_disease.tsv" },

  evaluate = function(ctx)
    if not retrieved(ctx, "conditions") then return nil end
    local cards = {}
    for _, med in ipairs(ctx.selected) do
      for _, row in ipairs(ctx.rows_for(med, BY_INGREDIENT) or NONE) do   -- each row once
        local condition = ctx.conditions.any(row.conditions)
        if condition then
          cards[#cards + 1] = card {
            key = med.ref .. ":" .. row.id, issue = "COND", indicator = INDICATOR[row.severity],
            explain = { matched = { med, condition }, rows = { kb_row("drug_disease", row) } },
            summary = shorten(string.format("%s with %s: %s", med.name, row.condition_label or condition.text or "a recorded condition",
                                            row.severity == "critical" and "contraindicated" or "use with caution"), 139),
            detail = string.format("**%s** is on the problem list (%s).\n\n%s\n\nSource: %s",
                                   condition.text or row.condition_label or "a condition", row.id, row.note, row.source),
            suggest = { remove(med) },
            override = { "benefit-outweighs-risk", "will-monitor", "not-applicable" },
          }
        end
      end
    end
    return cards
  end,
}
