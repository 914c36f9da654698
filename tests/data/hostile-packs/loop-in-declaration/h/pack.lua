pack { name = "h", version = "1", owner = "cdsd tests" }
