#!/usr/bin/env bash
# Screenshots of the real app at 1280x800 under Xvfb (needs: apt-get install xvfb xdotool imagemagick).
#   docs/screenshots/take_screenshots.sh            # from the repository root, after `make run` once
# Seeds a scratch data directory with real TrashNet photos via `waste-sorter classify --record`,
# plays a station video made from resources/samples, and captures Live, History and Statistics.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
WORK=$(mktemp -d)
SHARED=${WASTE_SORTER_SHARED:-../shared}
mkdir -p "$WORK/in"
find "$SHARED/data/trashnet" -name '*.jpg' | sort | awk 'NR % 13 == 0' | xargs -I{} cp {} "$WORK/in/"
"$PY" -m app classify --record --data-dir "$WORK/data" "$WORK/in" > /dev/null
"$PY" -m tests.video_factory "$WORK/station.avi" resources/samples/{plastic,glass,cardboard}.jpg \
    --fps 15 --hold 6 --empty 2
cat > "$WORK/shoot.sh" <<EOS
#!/usr/bin/env bash
"$PY" -m app gui --camera "$WORK/station.avi" --data-dir "$WORK/data" --model waste &
APP=\$!
sleep 4
WID=\$(xdotool search --sync --onlyvisible --name "Waste Sorter" | head -1)
xdotool windowmove \$WID 0 0 windowsize \$WID 1280 800 windowfocus \$WID
sleep 2.5; import -window root docs/screenshots/main.png
xdotool key --window \$WID ctrl+2; sleep 2; import -window root docs/screenshots/history.png
xdotool key --window \$WID ctrl+3; sleep 3; import -window root docs/screenshots/statistics.png
kill -TERM \$APP; wait \$APP
EOS
chmod +x "$WORK/shoot.sh"
xvfb-run -a -s "-screen 0 1280x800x24" "$WORK/shoot.sh"
rm -rf "$WORK"
