-- bench/wrk_post.lua — wrk posts the benchmark's CDS Hooks requests (the files of the directory
-- given after --, as `cdsd-bench bodies` writes them), each connection cycling through them from
-- its own starting point, to /cds-services/medication-safety (wrk counts answers other than 2xx
-- itself: "Non-2xx or 3xx responses"). Used by bench/wrk_http.sh.
local bodies, n, i = {}, 0, 0

function init(args)
  local dir = args[1]
  local list = io.popen('ls "' .. dir .. '"/*.json')
  for path in list:lines() do
    local f = io.open(path, "rb")
    n = n + 1
    bodies[n] = f:read("*a")
    f:close()
  end
  list:close()
  i = math.random(n) - 1
end

function request()
  i = i % n + 1
  return wrk.format("POST", "/cds-services/medication-safety", {["Content-Type"] = "application/json"}, bodies[i])
end

