#!/usr/bin/env python3
# Annotates one meshcc frame (hex on stdin) as CBOR, for the golden tests in wire/tests/wire/golden.rs:
#   cargo test -p meshcc-wire --test wire -- --nocapture   (a failing golden test prints the new bytes)
#   echo "00 00 00 03 82 01 a0" | scripts/cbor-annotate.py
import sys
def ann(b):
    out=[]; i=0
    out.append((b[0:4].hex(' '), f"frame length {int.from_bytes(b[:4],'big')}"))
    i=4
    def hdr(i):
        ib=b[i]; mt=ib>>5; ai=ib&31
        if ai<24: return mt,ai,1
        if ai==24: return mt,b[i+1],2
        if ai==25: return mt,int.from_bytes(b[i+1:i+3],'big'),3
        if ai==26: return mt,int.from_bytes(b[i+1:i+5],'big'),5
        raise Exception(ai)
    def item(i,depth,label=""):
        mt,v,n=hdr(i); pad="  "*depth
        if mt==0: out.append((b[i:i+n].hex(' '), f"{pad}{label}{v}")); return i+n
        if mt==2:
            raw=b[i+n:i+n+v]
            text=f' b"{raw.decode()}"' if v and all(32<=c<127 for c in raw) else ''
            out.append((b[i:i+n+v].hex(' '), f"{pad}{label}bytes({v}){text}")); return i+n+v
        if mt==3:
            s=b[i+n:i+n+v].decode(); out.append((b[i:i+n].hex(' ')+' '+b[i+n:i+n+v].hex(' ') if v else b[i:i+n].hex(' '), f'{pad}{label}"{s}"')); return i+n+v
        if mt==4:
            out.append((b[i:i+n].hex(' '), f"{pad}{label}array({v})")); i+=n
            for _ in range(v): i=item(i,depth+1)
            return i
        if mt==5:
            out.append((b[i:i+n].hex(' '), f"{pad}{label}map({v})")); i+=n
            for _ in range(v):
                mt2,v2,n2=hdr(i); k=b[i+n2:i+n2+v2].decode()
                out.append((b[i:i+n2+v2].hex(' '), f'{pad}  key "{k}"')); i+=n2+v2
                i=item(i,depth+2)
            return i
        if mt==7:
            out.append((b[i:i+1].hex(' '), f"{pad}{label}"+{20:"false",21:"true",22:"null"}[v])); return i+1
        raise Exception(mt)
    i=item(i,0)
    assert i==len(b)
    w=min(48,max(len(h) for h,_ in out if len(h)<=48))
    for h,c in out: print(f"        {h.ljust(w)}  # {c}")
ann(bytes.fromhex(sys.stdin.read().replace(' ','').strip()))
